import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

/**
 * The agent's spool: every event waits here, already numbered, until the gateway acks it.
 * `seq` is the per-agent sequence; `bytes` is the size of `record` so the size bound needs no scan.
 */
export const spoolEvents = sqliteTable('spool_events', {
  seq: integer('seq').primaryKey(),
  id: text('id').notNull(),
  bytes: integer('bytes').notNull(),
  record: text('record').notNull(),
});

/**
 * Counters that must outlive the rows they count: `last_seq` keeps seqs monotonic after every row is
 * acked and deleted (SQLite would reuse a max rowid), `acked_seq` tells the gateway where we are.
 */
export const spoolMeta = sqliteTable('spool_meta', {
  key: text('key').primaryKey(),
  value: integer('value').notNull(),
});

/**
 * Recovery marks, per opencode session: the `time.updated` last seen and spooled. A restarted agent
 * process reads messages of sessions that moved past it, so turns that ended while it was down are
 * still reported. The row `session = ''` (no opencode id is empty) holds the baseline: when the first
 * agent process on this data dir started.
 */
export const recoverySessions = sqliteTable('recovery_sessions', {
  session: text('session').primaryKey(),
  updated: integer('updated').notNull(),
});

/**
 * Ids of the assistant messages whose `message.completed`, and of the parts whose final
 * `message.part`, are already spooled: a restarted agent never sends them twice. `n` orders them
 * for the bound (oldest go first).
 */
export const recoveryEmitted = sqliteTable('recovery_emitted', {
  n: integer('n').primaryKey(),
  id: text('id').notNull().unique(),
  kind: text('kind', { enum: ['message', 'part'] }).notNull(),
});

/**
 * The outcome of each mutating command by its idempotency key, for 24 h: a repeat (a retry after
 * a lost answer) gets the recorded reply instead of running again. `reply` is null while the
 * command runs; `fingerprint` (command + actor) tells a retry from a different command reusing a key.
 */
export const commandResults = sqliteTable(
  'command_results',
  {
    key: text('key').primaryKey(),
    fingerprint: text('fingerprint').notNull(),
    type: text('type').notNull(),
    /** The Reply as JSON, once the command settled. */
    reply: text('reply'),
    startedAt: integer('started_at').notNull(),
  },
  (t) => [index('command_results_started').on(t.startedAt)],
);

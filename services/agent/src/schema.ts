import { integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

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

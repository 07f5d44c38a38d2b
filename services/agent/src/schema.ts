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

import { index, integer, sqliteTable, text } from 'drizzle-orm/sqlite-core';

// An event index shaped like a projector's table, for the drizzle insert figure.
export const events = sqliteTable(
  'events',
  {
    id: text('id').primaryKey(),
    seq: integer('seq').notNull(),
    type: text('type').notNull(),
    data: text('data').notNull(),
  },
  (table) => [index('events_type_idx').on(table.type)],
);

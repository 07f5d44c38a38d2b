// A projector's write path: @hal/db (migrations, pragmas) + drizzle inserts, 500 rows a transaction.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type HalDatabase, openDatabase } from '@hal/db';
import { sql } from 'drizzle-orm';
import { events } from './db/schema.ts';
import type { BenchContext } from './harness.ts';
import { jsonPayload, nowMs, perSecond } from './stats.ts';

const migrationsFolder = fileURLToPath(new URL('./db/drizzle', import.meta.url));
const BATCH = 500;

async function insertRate(
  ctx: BenchContext,
  insertOne: (database: HalDatabase) => (row: typeof events.$inferInsert) => void,
): Promise<number> {
  const rows = ctx.size(200_000, 5_000);
  const data = new TextDecoder().decode(jsonPayload());
  const database = openDatabase({ file: join(await ctx.tmpDir(), 'bench.sqlite'), migrationsFolder });
  ctx.defer(() => database.close());
  const insert = insertOne(database);
  const batch = database.sqlite.transaction((from: number) => {
    for (let i = from; i < from + BATCH; i++) insert({ id: `evt-${i}`, seq: i, type: 'message.part', data });
  });
  const start = nowMs();
  let inserted = 0;
  while (inserted < rows && nowMs() - start < 3_000) {
    batch(inserted);
    inserted += BATCH;
  }
  return perSecond(inserted, nowMs() - start);
}

export default async function db(ctx: BenchContext): Promise<void> {
  const prepared = await insertRate(ctx, (database) => {
    const statement = database.db
      .insert(events)
      .values({
        id: sql.placeholder('id'),
        seq: sql.placeholder('seq'),
        type: sql.placeholder('type'),
        data: sql.placeholder('data'),
      })
      .prepare();
    return (row) => statement.run(row);
  });
  ctx.record({
    name: 'db.drizzle.insert.prepared',
    value: prepared,
    unit: 'rows/s',
    baseline: 'sqlite.insert.batched',
    // A projector must keep its ~8x headroom over JetStream ingest; the ORM may cost half.
    goal: { op: '>=', value: 0.5 },
  });
  // Building the query per row re-renders SQL every time: shown to justify `.prepare()`.
  const builder = await insertRate(ctx, (database) => (row) => database.db.insert(events).values(row).run());
  ctx.record({
    name: 'db.drizzle.insert.builder',
    value: builder,
    unit: 'rows/s',
    baseline: 'sqlite.insert.batched',
  });
}

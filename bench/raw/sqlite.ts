import { join } from 'node:path';
import Database from 'better-sqlite3';
import type { BenchContext } from '../harness.ts';
import { jsonPayload, nowMs, perSecond } from '../stats.ts';

/** Inserts in transactions of 500 rows, WAL + synchronous=NORMAL, as a projector batches events. */
export async function sqliteBatchedInsert(ctx: BenchContext): Promise<void> {
  const rows = ctx.size(300_000, 5_000);
  const batch = 500;
  const data = Buffer.from(jsonPayload()).toString('utf8');
  const sqlite = new Database(join(await ctx.tmpDir(), 'bench.sqlite'));
  ctx.defer(() => sqlite.close());
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.exec(
    'create table events (id text primary key, seq integer not null, type text not null, data text not null)',
  );
  const insert = sqlite.prepare('insert into events (id, seq, type, data) values (?, ?, ?, ?)');
  const insertBatch = sqlite.transaction((from: number) => {
    for (let i = from; i < from + batch; i++) insert.run(`evt-${i}`, i, 'message.part', data);
  });
  const start = nowMs();
  let inserted = 0;
  while (inserted < rows && nowMs() - start < 3_000) {
    insertBatch(inserted);
    inserted += batch;
  }
  const elapsed = nowMs() - start;
  ctx.recordRaw({ name: 'sqlite.insert.batched', value: perSecond(inserted, elapsed), unit: 'rows/s' });
}

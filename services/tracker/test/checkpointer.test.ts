import assert from 'node:assert/strict';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '@hal/db';
import { startCheckpointer } from '../src/checkpointer.ts';
import { migrationsFolder } from '../src/migrations.ts';
import { createProjection, type RawEvent } from '../src/projection.ts';
import * as schema from '../src/schema.ts';
import { mixedEvents } from './event-mix.ts';
import { silentLog } from './stack.ts';

test('tracker checkpointer - a worker copies committed batches into the database file; at stop it closes first, so closing removes the WAL', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-tracker-ckpt-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'tracker.sqlite');
  const database = openDatabase({ file, migrationsFolder, schema });
  t.after(() => database.close());
  const { sqlite } = database;
  const projection = createProjection(sqlite);
  const checkpointer = startCheckpointer({ sqlite, log: silentLog });
  // The projection's connection only checkpoints by itself past the backstop (64 MiB of WAL).
  assert.equal(sqlite.pragma('wal_autocheckpoint', { simple: true }), 16_384);

  const raws = mixedEvents(7, 6_000).map(
    (e, i): RawEvent => ({ streamSeq: i + 1, data: typeof e === 'string' ? e : JSON.stringify(e) }),
  );
  for (let i = 0; i < raws.length; i += 500) {
    projection.applyBatch(raws.slice(i, i + 500));
    checkpointer.committed();
  }
  await checkpointer.idle();
  // The rows are in the database file itself, not only in the WAL (the connection above never
  // checkpointed: its WAL is far below the backstop).
  const pages = Number(sqlite.pragma('page_count', { simple: true }));
  const pageSize = Number(sqlite.pragma('page_size', { simple: true }));
  assert.ok(pages > 200, `only ${pages} pages`);
  assert.equal(statSync(file).size, pages * pageSize);

  await checkpointer.stop();
  assert.equal(sqlite.pragma('wal_autocheckpoint', { simple: true }), 1_000);
  assert.ok(existsSync(`${file}-wal`));
  database.close();
  // The last connection to close checkpoints and removes the WAL: the worker's was closed before.
  assert.equal(existsSync(`${file}-wal`), false);
});

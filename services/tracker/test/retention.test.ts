import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '@hal/db';
import { migrationsFolder } from '../src/migrations.ts';
import { createProjection } from '../src/projection.ts';
import { createRetention } from '../src/retention.ts';
import * as schema from '../src/schema.ts';
import { eventFactory } from './event-factory.ts';
import { manualClock, silentLog } from './stack.ts';

test('retention - events and log rows older than retention_days are removed, newer ones and sessions kept', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-tracker-ret-'));
  const database = openDatabase({ file: join(dir, 'tracker.sqlite'), migrationsFolder, schema });
  t.after(async () => {
    database.close();
    await rm(dir, { recursive: true, force: true });
  });
  const projection = createProjection(database.sqlite);
  const oldEv = eventFactory('node-a', 'proj', Date.parse('2026-01-01T00:00:00Z'));
  const newEv = eventFactory('node-a', 'proj', Date.parse('2026-11-01T00:00:00Z'));
  const part = { message_id: 'm', role: 'assistant', part_type: 'text', text: 'hi' };
  projection.applyBatch(
    [
      oldEv('session.busy', 's1'),
      oldEv('message.part', 's1', { ...part, part_id: 'old' }),
      newEv('message.part', 's1', { ...part, part_id: 'new' }),
    ].map((e, i) => ({ streamSeq: i + 1, data: JSON.stringify(e) })),
  );
  const clock = manualClock(Date.parse('2026-11-20T00:00:00Z'));
  const retention = createRetention({ sqlite: database.sqlite, log: silentLog, clock, retentionDays: 90 });
  assert.deepEqual(retention.run(), { events: 2, logEntries: 1 });
  assert.deepEqual(retention.run(), { events: 0, logEntries: 0 });
  const count = (table: string) =>
    (database.sqlite.prepare(`select count(*) as n from ${table}`).get() as { n: number }).n;
  assert.equal(count('events'), 1);
  assert.equal(count('session_log'), 1);
  assert.equal(projection.store.getSession('s1')?.state, 'running');
});

import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '@hal/db';
import { migrationsFolder } from '../src/migrations.ts';
import { createProjection, type RawEvent } from '../src/projection.ts';
import * as schema from '../src/schema.ts';
import { eventFactory } from './event-factory.ts';
import { mixedEvents } from './event-mix.ts';

const TABLES = ['sessions', 'nodes', 'events', 'session_log', 'session_messages', 'env_results', 'meta'];

/** Every table of a projection of `raws` applied in batches of the sizes `sizes` gives, in turn. */
async function project(
  t: { after(fn: () => Promise<void> | void): void },
  raws: readonly RawEvent[],
  sizes: () => number,
): Promise<Record<string, unknown[]>> {
  const dir = await mkdtemp(join(tmpdir(), 'hal-tracker-batches-'));
  const database = openDatabase({ file: join(dir, 'tracker.sqlite'), migrationsFolder, schema });
  t.after(async () => {
    database.close();
    await rm(dir, { recursive: true, force: true });
  });
  const projection = createProjection(database.sqlite);
  for (let i = 0; i < raws.length; ) {
    const n = sizes();
    projection.applyBatch(raws.slice(i, i + n));
    i += n;
  }
  return Object.fromEntries(
    TABLES.map((table) => [table, database.sqlite.prepare(`select * from ${table} order by 1, 2`).all()]),
  );
}

test('projection - a stream gives the same tables whether applied one event a batch or many', async (t) => {
  const endStates = new Set<string>();
  for (const seed of [1, 2, 3]) {
    const raws = mixedEvents(seed, 2_000).map(
      (e, i): RawEvent => ({ streamSeq: i + 1, data: typeof e === 'string' ? e : JSON.stringify(e) }),
    );
    const one = await project(t, raws, () => 1);
    // The stream did reach every kind of row (a generator that stopped doing so would prove nothing).
    for (const table of ['sessions', 'nodes', 'session_log', 'session_messages'])
      assert.ok(one[table]!.length > 0, `seed ${seed}: ${table} is empty`);
    const states = new Set((one.sessions as Array<{ state: string }>).map((s) => s.state));
    assert.ok(states.size >= 3, `seed ${seed}: sessions end in only ${[...states].join(', ')}`);
    for (const s of states) endStates.add(s);
    let size = 0;
    const varied = await project(t, raws, () => (size = (size % 97) + 13));
    const whole = await project(t, raws, () => raws.length);
    for (const table of TABLES) {
      assert.deepEqual(varied[table], one[table], `seed ${seed}: ${table} differs (batches of 13..109)`);
      assert.deepEqual(whole[table], one[table], `seed ${seed}: ${table} differs (one batch)`);
    }
  }
  console.log(`end states: ${[...endStates].sort().join(', ')}`);
});

test('projection - a session reported again after its node went offline in the same batch is back in that state', async (t) => {
  const ev = eventFactory();
  const events = [
    ev('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw1' }),
    ev('session.idle', 's1'),
    ev('session.retry', 's2', { attempt: 1 }),
    ev('node.offline', null, { reason: 'socket_closed' }),
    ev('session.idle', 's1'),
    ev('session.idle', 's2'),
  ];
  const raws = events.map((e, i): RawEvent => ({ streamSeq: i + 1, data: JSON.stringify(e) }));
  for (const size of [1, raws.length]) {
    const tables = await project(t, raws, () => size);
    const rows = tables.sessions as Array<Record<string, unknown>>;
    assert.deepEqual(
      rows.map((r) => [r.session, r.state, r.prior_state, r.state_since, r.retry]),
      [
        ['s1', 'idle', null, events[4]!.time, null],
        ['s2', 'idle', null, events[5]!.time, null],
      ],
      `batches of ${size}`,
    );
  }
});

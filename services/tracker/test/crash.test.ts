import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { publishEvent } from '@hal/bus';
import { openDatabase } from '@hal/db';
import type { EventRecord } from '@hal/protocol';
import { compiledEntry, waitFor } from '@hal/testkit';
import { migrationsFolder } from '../src/migrations.ts';
import * as schema from '../src/schema.ts';
import { startStack } from './stack.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/tracker-process.ts', import.meta.url));
const EVENTS = 12_000;
const SESSIONS = 40;

/** Event i: a completion worth i input tokens (every third), else a logged text part. */
function eventAt(i: number): EventRecord {
  const base = {
    version: 1 as const,
    id: crypto.randomUUID(),
    seq: i + 1,
    node: 'node-a',
    project: 'crash',
    session: `s${i % SESSIONS}`,
    time: new Date(Date.parse('2026-12-01T00:00:00Z') + i).toISOString(),
  };
  return i % 3 === 0
    ? {
        ...base,
        type: 'message.completed',
        data: {
          message_id: `m${i}`,
          model: 'm',
          provider: 'p',
          tokens: { input: i, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
          cost_usd: 0,
        },
      }
    : {
        ...base,
        type: 'message.part',
        data: {
          message_id: `m${i}`,
          part_id: `x${i}`,
          role: 'assistant',
          part_type: 'text',
          text: 'y'.repeat(100),
        },
      };
}

test('tracker - killed (SIGKILL) again and again while it catches up, it ends with every event projected exactly once', async (t) => {
  const stack = await startStack(t);
  for (let from = 0; from < EVENTS; from += 500) {
    await Promise.all(
      Array.from({ length: Math.min(500, EVENTS - from) }, (_, k) =>
        publishEvent(stack.js, eventAt(from + k)),
      ),
    );
  }
  const dataDir = join(stack.dir, 'data');
  const main = await compiledEntry(FIXTURE);
  let child: ChildProcess | undefined;
  t.after(() => {
    child?.kill('SIGKILL');
  });
  let applied = 0;
  // Each process is killed at a later point of the catch-up, whatever it is doing then: inside a
  // transaction, between commit and ack, or while its worker checkpoints.
  // Killed from the output handler the moment it reports past the point (a poll would give a
  // fast tracker tens of milliseconds, thousands of events, more): the last kill is well before the end.
  for (const killAt of [EVENTS * 0.15, EVENTS * 0.35, EVENTS * 0.55]) {
    const proc = spawn(process.execPath, [main, stack.nats.url, dataDir, 'hal-tracker-crash'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    child = proc;
    let seen = 0;
    const exited = new Promise((resolve) => proc.once('exit', resolve));
    const killed = new Promise<void>((resolve) => {
      proc.stdout?.on('data', (chunk: Buffer) => {
        for (const m of chunk.toString().matchAll(/applied (\d+)/g)) seen = Number(m[1]);
        if (seen > killAt && proc.kill('SIGKILL')) resolve();
      });
    });
    await Promise.race([
      killed,
      exited.then(() => assert.fail(`the tracker exited before it got past ${killAt} (at ${seen})`)),
      new Promise((_, reject) =>
        setTimeout(
          () => reject(new Error(`the tracker never got past ${killAt} (at ${seen})`)),
          60_000,
        ).unref(),
      ),
    ]);
    await exited;
    assert.ok(seen >= applied, `applied went back from ${applied} to ${seen}`);
    applied = seen;
  }
  assert.ok(applied < EVENTS, 'the last kill came after the catch-up: the test proved nothing');

  // The same database and consumer in this process, to the end of the stream.
  const { tracker } = await stack.tracker({ dataDir, consumerName: 'hal-tracker-crash' });
  await waitFor(() => tracker.appliedSeq() === EVENTS || undefined, {
    timeoutMs: 60_000,
    message: 'the restarted tracker never caught up',
  });
  await tracker.stop();

  const database = openDatabase({ file: join(dataDir, 'tracker.sqlite'), migrationsFolder, schema });
  t.after(() => database.close());
  const one = <T>(sql: string) => database.sqlite.prepare(sql).get() as T;
  assert.deepEqual(
    one('select count(*) as n, count(distinct id) as ids, max(stream_seq) as last from events'),
    {
      n: EVENTS,
      ids: EVENTS,
      last: EVENTS,
    },
  );
  const parts = Array.from({ length: EVENTS }, (_, i) => i).filter((i) => i % 3 !== 0).length;
  assert.deepEqual(one('select count(*) as n from session_log'), { n: parts });
  assert.deepEqual(one('select count(*) as n from session_messages'), { n: EVENTS - parts });
  // Counted once each: a completion applied twice would add its tokens twice to the session.
  const expected = new Map<string, number>();
  for (let i = 0; i < EVENTS; i += 3)
    expected.set(`s${i % SESSIONS}`, (expected.get(`s${i % SESSIONS}`) ?? 0) + i);
  const totals = database.sqlite
    .prepare('select session, tokens_input as n from sessions order by session')
    .all() as Array<{ session: string; n: number }>;
  assert.deepEqual(new Map(totals.map((r) => [r.session, r.n])), expected);
});

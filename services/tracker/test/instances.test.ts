import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { connectBus, INSTANCE_ID_FILE } from '@hal/bus';
import { StreamName } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { eventFactory, usage } from './event-factory.ts';
import { type Stack, silentLog, startStack } from './stack.ts';

const config = (stack: Stack, name: string, inactiveSec = 3_600) => ({
  data_dir: join(stack.dir, name),
  heartbeat_interval_sec: 30,
  heartbeat_timeout_count: 3,
  security: { audit: { retention_days: 90 } },
  instances: { consumer_inactive_sec: inactiveSec },
});

/** Everything a user can ask the tracker, as one comparable value. */
async function answers(stack: Stack) {
  const sessions = await stack.query('sessions_list', { limit: 500 });
  return {
    nodes: await stack.query('nodes_list', {}),
    sessions,
    each: await Promise.all(
      sessions.sessions.map((s) => stack.query('sessions_get', { session: s.session })),
    ),
    logs: await stack.query('sessions_logs', { session: 's-1', limit: 500 }),
    summary: await stack.query('sessions_summary', {}),
    events: await stack.query('events_list', { limit: 500 }),
  };
}

async function trackerConsumers(stack: Stack): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(stack.nc);
  const out = new Map<string, number>();
  for await (const c of jsm.consumers.list(StreamName.EVENTS)) {
    if (c.name.startsWith('hal-tracker')) out.set(c.name, c.config.inactive_threshold ?? 0);
  }
  return out;
}

function traffic(ev: ReturnType<typeof eventFactory>, from: number, to: number) {
  const out = [];
  for (let i = from; i < to; i++) {
    const s = `s-${i % 7}`;
    out.push(ev('session.created', s, { title: `task ${i}` }));
    out.push(ev('session.busy', s));
    out.push(
      ev('message.completed', s, {
        message_id: `m-${i}`,
        model: 'gpt-5',
        provider: 'openai',
        tokens: usage(10 * i, i),
        cost_usd: 0.01 * i,
      }),
    );
    out.push(ev(i % 3 === 0 ? 'session.error' : 'session.idle', s, { kind: 'APIError', message: `e${i}` }));
  }
  return out;
}

test('tracker instances - two trackers started side by side give the same answers; restarting either loses nothing', async (t) => {
  const stack = await startStack(t);
  const ev = eventFactory();
  await stack.publish(...traffic(ev, 0, 20));
  let a = (await stack.tracker({ config: config(stack, 'a') })).tracker;
  let b = (await stack.tracker({ config: config(stack, 'b') })).tracker;
  let last = await stack.publish(...traffic(ev, 20, 40));
  await waitFor(() => a.appliedSeq() === last && b.appliedSeq() === last);

  // Each instance has a consumer of its own, named from the id kept in its data_dir, removed by
  // the server when unused for consumer_inactive_sec.
  const ids = await Promise.all(
    ['a', 'b'].map(async (d) => (await readFile(join(stack.dir, d, INSTANCE_ID_FILE), 'utf8')).trim()),
  );
  assert.notEqual(ids[0], ids[1]);
  assert.deepEqual(
    await trackerConsumers(stack),
    new Map(ids.map((id) => [`hal-tracker-${id}`, 3_600 * 1e9])),
  );

  // The query group answers from either instance: each alone must give the same answers.
  await b.stop();
  const fromA = await answers(stack);
  assert.equal(fromA.sessions.total, 7);
  b = (await stack.tracker({ config: config(stack, 'b') })).tracker;
  await a.stop();
  assert.deepEqual(await answers(stack), fromA, 'b answers what a answered');

  // a was down while events went on; after its restart it has them all, and so does b.
  last = await stack.publish(...traffic(ev, 40, 55));
  a = (await stack.tracker({ config: config(stack, 'a') })).tracker;
  await waitFor(() => a.appliedSeq() === last && b.appliedSeq() === last);
  const fromB = await answers(stack);
  await b.stop();
  assert.deepEqual(await answers(stack), fromB, 'a, restarted, answers what b answers');
  assert.equal(fromB.events.events.length, 55 * 4);
  // Restarts kept both consumers and made no other.
  assert.deepEqual(
    [...(await trackerConsumers(stack)).keys()].sort(),
    ids.map((id) => `hal-tracker-${id}`).sort(),
  );
});

test('tracker instances - a gone instance leaves no consumer behind, and one that returns resumes from its database', async (t) => {
  const stack = await startStack(t);
  const ev = eventFactory();
  let c = (await stack.tracker({ config: config(stack, 'c', 1) })).tracker;
  const first = await stack.publish(...traffic(ev, 0, 5));
  await waitFor(() => c.appliedSeq() === first);
  assert.equal((await trackerConsumers(stack)).size, 1);
  await c.stop();
  await waitFor(async () => (await trackerConsumers(stack)).size === 0, {
    message: 'the server removes the consumer of a gone instance',
  });
  const last = await stack.publish(...traffic(ev, 5, 10));
  c = (await stack.tracker({ config: config(stack, 'c', 1) })).tracker;
  await waitFor(() => c.appliedSeq() === last);
  assert.equal((await stack.query('events_list', { limit: 500 })).events.length, 40);
});

test('tracker instances - a second process with the same instance_id is refused with the holder named, and starts once the first stops or dies', async (t) => {
  const stack = await startStack(t);
  const ev = eventFactory();
  const dup = (dir: string) => ({
    ...config(stack, dir),
    instance_id: 'dup',
    instances: { consumer_inactive_sec: 3_600, lease_ttl_sec: 1 },
  });
  const a = (await stack.tracker({ config: dup('a') })).tracker;
  await assert.rejects(stack.tracker({ config: dup('b') }), (err: Error & { code?: string }) => {
    assert.equal(err.code, 'INSTANCE_ID_IN_USE');
    assert.match(err.message, /tracker instance_id "dup" is in use by [^ ]+:\d+/);
    return true;
  });
  // a alone consumes hal-tracker-dup: it has every event, none went to the refused one.
  const last = await stack.publish(...traffic(ev, 0, 10));
  await waitFor(() => a.appliedSeq() === last);
  assert.deepEqual([...(await trackerConsumers(stack)).keys()], ['hal-tracker-dup']);

  // Stopped, a gives the id up: b takes it and carries on from the same consumer.
  await a.stop();
  const b = (await stack.tracker({ config: dup('b') })).tracker;
  await waitFor(() => b.appliedSeq() === last);

  // A process that dies holds its id until the server's TTL ends; then a new one takes it.
  const doomedNc = await connectBus({ url: stack.nats.url, name: 'doomed', log: silentLog });
  const gone = { ...dup('c'), instance_id: 'gone' };
  await stack.tracker({ config: gone, nc: doomedNc });
  await doomedNc.close();
  const again = (await stack.tracker({ config: { ...gone, data_dir: join(stack.dir, 'd') } })).tracker;
  const more = await stack.publish(...traffic(ev, 10, 12));
  await waitFor(() => again.appliedSeq() === more && b.appliedSeq() === more);
});

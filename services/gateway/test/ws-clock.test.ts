import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NatsConnection } from '@hal/bus';
import { type EventRecord, subjects } from '@hal/protocol';
import { FakeClock, waitFor } from '@hal/testkit';
import { ClockSkew, skewAlertDue } from '../src/clock-skew.ts';
import { agentEvents, connectAgent, makeEvent, readEvents, startEnv, testConfig } from './ws-harness.ts';

const TEN_MIN = 10 * 60_000;

const beat = {
  load: [0.1, 0.1, 0.1],
  mem_total_bytes: 16e9,
  mem_free_bytes: 8e9,
  opencode_ok: true,
  sessions: 0,
  spool_depth: 0,
};

function collect(nc: NatsConnection, subject: string): unknown[] {
  const seen: unknown[] = [];
  nc.subscribe(subject, { callback: (_e, m) => void seen.push(m.json()) });
  return seen;
}

test('ws clock - every accepted event is stamped with received_at (control-plane time) and the node skew; the host time stays', async (t) => {
  const clock = new FakeClock();
  const env = await startEnv({ clock });
  t.after(() => env.close());
  const agent = await connectAgent(env.url, { node: 'node-ahead' });
  // The host's clock is 10 minutes ahead of the control plane's.
  const welcome = await agent.hello({}, clock.iso(TEN_MIN));
  assert.equal(welcome.type, 'welcome');
  const hostTime = clock.iso(TEN_MIN);
  agent.send('events', {
    events: [makeEvent('node-ahead', 1, { time: hostTime }), makeEvent('node-ahead', 2, { time: hostTime })],
  });
  await agent.waitAck(2);
  const stored = agentEvents(await readEvents(env.nc));
  assert.equal(stored.length, 2);
  for (const { event } of stored) {
    assert.equal(event.time, hostTime, 'the host time is kept for display');
    assert.equal(event.received_at, clock.iso(), 'received_at is the control plane clock');
    assert.equal(event.host_skew_ms, TEN_MIN);
  }
  assert.equal(env.gateway.nodes()[0]?.clock_skew_ms, TEN_MIN);
  await agent.close();
});

test('ws clock - an agent cannot set received_at or host_skew_ms: those records are refused with their seqs, the rest published', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const agent = await connectAgent(env.url, { node: 'node-evil' });
  await agent.hello();
  const forgedAt = '2001-01-01T00:00:00.000Z';
  agent.send('events', {
    events: [
      makeEvent('node-evil', 1),
      { ...makeEvent('node-evil', 2), received_at: forgedAt },
      { ...makeEvent('node-evil', 3), host_skew_ms: -3_600_000 },
      makeEvent('node-evil', 4),
    ],
  });
  const error = await agent.waitFrame((f) => f.type === 'error');
  assert.deepEqual(error.payload, {
    code: 'VALIDATION_FAILED',
    message:
      '2 of 4 events rejected; first: payload.events[1].received_at: is stamped by the gateway (control-plane time); an agent may not send it',
    path: 'payload.events[1].received_at',
    rejected_seqs: [2, 3],
  });
  await agent.waitAck(4);
  const stored = agentEvents(await readEvents(env.nc));
  assert.deepEqual(
    stored.map((s) => s.event.seq),
    [1, 4],
  );
  assert.ok(stored.every((s) => s.event.received_at !== forgedAt && s.event.received_at !== undefined));
  await agent.close();
});

test('ws clock - heartbeats carry the measured skew to hal.hb.<node>; a delayed frame does not pull it down', async (t) => {
  const clock = new FakeClock();
  const env = await startEnv({ clock });
  t.after(() => env.close());
  const beats = collect(env.nc, subjects.heartbeat('node-behind')) as Array<{ clock_skew_ms?: number }>;
  await env.nc.flush();
  const agent = await connectAgent(env.url, { node: 'node-behind' });
  await agent.hello({}, clock.iso(-TEN_MIN));
  agent.send('heartbeat', beat, clock.iso(-TEN_MIN));
  await waitFor(() => beats.length === 1);
  assert.equal(beats[0]?.clock_skew_ms, -TEN_MIN);
  // A heartbeat that spent 4 s on the way reads as 4 s more skew; the estimate ignores it.
  agent.send('heartbeat', beat, clock.iso(-TEN_MIN - 4_000));
  await waitFor(() => beats.length === 2);
  assert.equal(beats[1]?.clock_skew_ms, -TEN_MIN);
  assert.equal(env.gateway.nodes()[0]?.clock_skew_ms, -TEN_MIN);
  await agent.close();
});

test('ws clock - node.clock_skew is raised once per crossing of alerts.clock_skew_seconds, not per heartbeat', async (t) => {
  const clock = new FakeClock();
  const env = await startEnv({ clock, config: { ...testConfig(), alerts: { clock_skew_seconds: 30 } } });
  t.after(() => env.close());
  const alerts = collect(
    env.nc,
    subjects.eventFilter({ node: 'node-drift', project: '', type: 'node.clock_skew' }),
  );
  const beats = collect(env.nc, subjects.heartbeat('node-drift'));
  await env.nc.flush();
  const agent = await connectAgent(env.url, { node: 'node-drift' });
  await agent.hello({}, clock.iso());
  const beatAt = async (offsetMs: number) => {
    const n = beats.length;
    agent.send('heartbeat', beat, clock.iso(offsetMs));
    await waitFor(() => beats.length > n);
  };
  for (let i = 0; i < 3; i++) await beatAt(40_000);
  // The clock is fixed (NTP): once the skewed samples have left the window, the node is back under.
  for (let i = 0; i < 8; i++) await beatAt(0);
  for (let i = 0; i < 3; i++) await beatAt(45_000);
  await waitFor(() => alerts.length === 2, { message: 'two alerts' });
  await env.nc.flush();
  const [first, second] = alerts as EventRecord[];
  assert.deepEqual(first?.data, {
    skew_ms: 40_000,
    threshold_seconds: 30,
    gateway: 'gw-1',
    severity: 'warning',
  });
  assert.deepEqual(second?.data, {
    skew_ms: 45_000,
    threshold_seconds: 30,
    gateway: 'gw-1',
    severity: 'warning',
  });
  assert.equal(first?.time, clock.iso(), 'raised at control-plane time');
  assert.equal(alerts.length, 2);
  await agent.close();
});

test('clock skew - the estimate is the largest recent sample: the fastest frame', () => {
  const skew = new ClockSkew();
  assert.equal(skew.ms, undefined);
  const t0 = Date.parse('2030-01-01T00:00:00.000Z');
  skew.sample(new Date(t0 + 5_000).toISOString(), t0 + 200); // 200 ms in transit
  skew.sample(new Date(t0 + 5_000).toISOString(), t0 + 3); // 3 ms
  skew.sample(new Date(t0 + 5_000).toISOString(), t0 + 2_000); // stuck behind a batch
  assert.equal(skew.ms, 4_997);
  skew.sample('not a time', t0);
  assert.equal(skew.ms, 4_997);
});

test('clock skew - a skew hovering at the threshold alerts once; it alerts again only after coming back well under', () => {
  const alerted = new Set<string>();
  const due = (skewMs: number) => skewAlertDue(alerted, 'node-hover', skewMs, 30);
  assert.equal(due(29_000), false, 'under the threshold');
  assert.equal(due(30_400), true, 'crossed');
  const jitter = [29_700, 30_300, 29_500, 30_200, -30_100, 25_000, 30_600];
  assert.deepEqual(
    jitter.map(due),
    jitter.map(() => false),
    'hovering between 80 % of the threshold and past it raises nothing more',
  );
  assert.equal(due(23_000), false, 'back well under (below 24 s)');
  assert.equal(due(-31_000), true, 'crossed anew, the other way');
  assert.equal(due(31_000), false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { NatsConnection } from '@hal/bus';
import { type EventRecord, subjects } from '@hal/protocol';
import { FakeClock, waitFor } from '@hal/testkit';
import { connectAgent, startEnv, testConfig } from './ws-harness.ts';

const beat = {
  load: [0.5, 0.4, 0.3],
  mem_total_bytes: 16e9,
  mem_free_bytes: 8e9,
  opencode_ok: true,
  sessions: 3,
  spool_depth: 7,
};

/** Node events as they are published (core subscribers see JetStream publishes too). */
function collectNodeEvents(nc: NatsConnection, node: string): EventRecord[] {
  const seen: EventRecord[] = [];
  nc.subscribe(subjects.eventFilter({ node, project: '', type: 'node.*' }), {
    callback: (_err, msg) => {
      seen.push(msg.json<EventRecord>());
    },
  });
  return seen;
}

test('ws heartbeat - republished on hal.hb.<node> with who relayed it', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const got: unknown[] = [];
  env.nc.subscribe(subjects.heartbeat('node-h'), {
    callback: (_e, m) => {
      got.push(m.json());
    },
  });
  await env.nc.flush();
  const agent = await connectAgent(env.url, { node: 'node-h' });
  await agent.hello();
  agent.send('heartbeat', beat);
  const hb = (await waitFor(() => got[0], { message: 'heartbeat on hal.hb.node-h' })) as Record<
    string,
    unknown
  >;
  assert.equal(typeof hb.time, 'string');
  // Host and gateway share a clock here: the skew is the frame's transit, a few ms at most.
  assert.ok(typeof hb.clock_skew_ms === 'number' && Math.abs(hb.clock_skew_ms) < 1_000);
  assert.deepEqual(hb, {
    ...beat,
    version: 1,
    node: 'node-h',
    gateway: 'gw-1',
    time: hb.time,
    clock_skew_ms: hb.clock_skew_ms,
    agent_version: '0.1.0-test',
    projects: [{ name: 'demo', directory: '/srv/demo' }],
  });
  assert.notEqual(env.gateway.nodes()[0]?.last_heartbeat_at, null);
  await agent.close();
});

test('ws heartbeat - missed beats while the socket stays open: node.offline at the timeout by the clock, close 4002', async (t) => {
  const clock = new FakeClock();
  const env = await startEnv({
    config: testConfig({ heartbeat_interval_sec: 0.3, heartbeat_timeout_count: 2 }),
    clock,
    heartbeatCheckMs: 3_600_000,
  });
  t.after(() => env.close());
  const seen = collectNodeEvents(env.nc, 'node-t');
  await env.nc.flush();
  const agent = await connectAgent(env.url, { node: 'node-t' });
  // The host's clock agrees with the control plane's (no clock_skew alert in the way).
  const welcome = await agent.hello({}, clock.iso());
  assert.equal((welcome.payload as { heartbeat_interval_sec: number }).heartbeat_interval_sec, 0.3);
  // A beat 500 ms in starts the 600 ms deadline again.
  clock.advance(500);
  agent.send('heartbeat', beat, clock.iso());
  await waitFor(() => env.gateway.nodes()[0]?.last_heartbeat_at === clock.iso(), { message: 'beat seen' });
  clock.advance(599);
  env.gateway.tick();
  assert.equal(env.gateway.nodes().length, 1, 'still online 599 ms after the last beat');
  // The fake agent stays connected but silent, like a hung host.
  clock.advance(1);
  env.gateway.tick();
  assert.deepEqual(env.gateway.nodes(), [], 'released at 600 ms');
  const offline = await waitFor(() => seen.find((e) => e.type === 'node.offline'), { timeoutMs: 3_000 });
  assert.deepEqual(offline.data, { reason: 'heartbeat_timeout', gateway: 'gw-1' });
  assert.equal(offline.time, clock.iso(), 'offline at the control-plane time of the check');
  assert.equal(offline.seq, 0);
  assert.equal(offline.session, null);
  const closed = await agent.closed;
  assert.equal(closed.code, 4002);
  assert.deepEqual(
    seen.map((e) => e.type),
    ['node.online', 'node.offline'],
  );
});

test('ws heartbeat - a closed socket publishes node.offline once; online and snapshot carry their data', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const seen = collectNodeEvents(env.nc, 'node-s');
  await env.nc.flush();
  const agent = await connectAgent(env.url, { node: 'node-s' });
  await agent.hello();
  agent.send('snapshot', { sessions: [{ session: 'ses_1', project: 'demo', state: 'idle' }] });
  await waitFor(() => seen.some((e) => e.type === 'node.snapshot'));
  agent.ws.terminate();
  await waitFor(() => seen.some((e) => e.type === 'node.offline'));
  await env.nc.flush();
  assert.deepEqual(
    seen.map((e) => e.type),
    ['node.online', 'node.snapshot', 'node.offline'],
  );
  const [online, snapshot, offline] = seen;
  assert.deepEqual(online?.data, {
    agent_version: '0.1.0-test',
    projects: [{ name: 'demo', directory: '/srv/demo' }],
    gateway: 'gw-1',
  });
  assert.deepEqual(snapshot?.data, { sessions: [{ session: 'ses_1', project: 'demo', state: 'idle' }] });
  assert.deepEqual(offline?.data, { reason: 'socket_closed', gateway: 'gw-1' });
  assert.equal(new Set(seen.map((e) => e.id)).size, 3);
  assert.ok(seen.every((e) => e.seq === 0 && e.project === '' && e.node === 'node-s'));
});

test('ws heartbeat - every welcomed agent is pinged by the gateway (its dead-gateway check), none before welcome', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const early = await connectAgent(env.url, { node: 'node-p0' });
  let earlyPings = 0;
  early.ws.on('ping', () => earlyPings++);
  const agents = await Promise.all(['node-p1', 'node-p2'].map((node) => connectAgent(env.url, { node })));
  await Promise.all(agents.map((a) => a.hello()));
  // One shared gateway timer pings every connection: each welcomed agent hears a ping.
  await Promise.all(agents.map((a) => new Promise((resolve) => a.ws.once('ping', resolve))));
  assert.equal(earlyPings, 0);
  await Promise.all([...agents, early].map((a) => a.close()));
});

// Policies time decisions by the control plane's clock, never a host's: a real nats-server, the
// real gateway and policy service sharing one FakeClock, and agents that are plain WebSocket
// clients whose clocks are 10 minutes off. Time moves only by the fake clock and policy.tick().
import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createGateway } from '@hal/gateway';
import { createLogger, createRegistry } from '@hal/observability';
import { createPolicy, POLICY_CONSUMER } from '@hal/policy';
import {
  type Envelope,
  type EventRecord,
  formatProtocolVersion,
  makeEnvelope,
  StreamName,
  WIRE_PROTOCOL,
  type WsPayload,
  type WsType,
} from '@hal/protocol';
import { FakeClock, type NatsServer, startNats, waitFor } from '@hal/testkit';
import WebSocket from 'ws';

const log = createLogger({ service: 'clock-test', level: process.env.HAL_TEST_LOG ?? 'silent' });
const TOKEN = 'clock-shared-token-0123456789';
const TEN_MIN = 10 * 60_000;
const HOUR = 3_600_000;

interface Stack {
  nats: NatsServer;
  nc: NatsConnection;
  clock: FakeClock;
  wsUrl: string;
  tick(): Promise<void>;
}

async function startStack(t: TestContext, policies: Record<string, unknown>): Promise<Stack> {
  const nats = await startNats();
  const clock = new FakeClock();
  const config = parseConfig('supervisor', {
    server: { auth_token: TOKEN, host: '127.0.0.1', port: 0 },
    policies,
  });
  const connect = (name: string) => connectBus({ url: nats.url, name, log });
  const nc = await connect('clock-test');
  await ensureStreams(nc);
  const gwNc = await connect('clock-gateway');
  const gateway = createGateway({
    config,
    nc: gwNc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    clock,
    gatewayId: 'gw-1',
    stopGraceMs: 500,
  });
  await gateway.start();
  const policyNc = await connect('clock-policy');
  const policy = createPolicy({
    config,
    nc: policyNc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    clock,
    // The timer never fires during a test: time moves by clock.advance + tick().
    tickMs: 3_600_000,
    commandTimeoutMs: 5_000,
  });
  await policy.start();
  t.after(async () => {
    await policy.stop();
    await gateway.stop();
    for (const c of [policyNc, gwNc, nc]) await c.close();
    await nats.stop();
  });
  return { nats, nc, clock, wsUrl: `ws://127.0.0.1:${gateway.address().port}`, tick: () => policy.tick() };
}

interface SkewedAgent {
  /** Commands received, with the control-plane time they arrived at. */
  commands: Array<{ type: string; session?: string; at: number }>;
  /** Sends events whose host time is `hostOffsetMs` from the given control-plane time (default now). */
  events(
    events: Array<{ session: string; type: string; data?: Record<string, unknown>; at?: number }>,
  ): Promise<void>;
  close(): void;
}

/** An agent on a host whose clock is `skewMs` off the control plane's; it answers every command ok. */
async function connectSkewedAgent(stack: Stack, node: string, skewMs: number): Promise<SkewedAgent> {
  const ws = new WebSocket(stack.wsUrl, {
    headers: { authorization: `Bearer ${TOKEN}`, 'x-hal-node': node },
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  const hostNow = (at = stack.clock.now()) => new Date(at + skewMs).toISOString();
  const send = <T extends WsType>(type: T, payload: WsPayload<T>) =>
    ws.send(JSON.stringify({ ...makeEnvelope(type, payload), timestamp: hostNow() }));
  let acked = -1;
  let welcomed = false;
  const commands: SkewedAgent['commands'] = [];
  ws.on('message', (raw) => {
    const frame = JSON.parse(raw.toString()) as Envelope;
    if (frame.type === 'welcome') welcomed = true;
    if (frame.type === 'ack') acked = Math.max(acked, (frame.payload as { seq: number }).seq);
    if (frame.type === 'command') {
      const p = frame.payload as WsPayload<'command'>;
      const session = 'session' in p.command ? p.command.session : undefined;
      commands.push({
        type: p.command.type,
        ...(session === undefined ? {} : { session }),
        at: stack.clock.now(),
      });
      send('command.result', { command_id: p.command_id, ok: true, data: { session, resumed: true } });
    }
  });
  send('hello', {
    node,
    agent_version: '0.1.0-test',
    protocol: formatProtocolVersion(WIRE_PROTOCOL),
    projects: [{ name: 'proj', directory: '/srv/proj' }],
    last_acked_seq: 0,
  });
  await waitFor(() => welcomed, { message: `${node} welcomed` });
  let seq = 0;
  return {
    commands,
    async events(list) {
      const records = list.map((e) => ({
        version: 1,
        id: crypto.randomUUID(),
        seq: ++seq,
        node,
        project: 'proj',
        session: e.session,
        type: e.type,
        time: hostNow(e.at),
        data: e.data ?? {},
      }));
      send('events', { events: records });
      const last = seq;
      await waitFor(() => acked >= last, { message: `${node} events acked` });
    },
    close: () => ws.close(),
  };
}

/** Resolves when the policy consumer has handled everything in HAL_EVENTS. */
async function settled(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  await waitFor(
    async () => {
      const stream = await jsm.streams.info(StreamName.EVENTS);
      const c = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
      return c.ack_floor.stream_seq >= stream.state.last_seq && c.num_ack_pending === 0;
    },
    { timeoutMs: 15_000, message: 'policy consumer caught up' },
  );
}

async function policyActions(nc: NatsConnection, policy: string): Promise<Array<Record<string, unknown>>> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  const info = await jsm.streams.info(StreamName.EVENTS);
  const out: Array<Record<string, unknown>> = [];
  for (let s = info.state.first_seq; s <= info.state.last_seq; s++) {
    const m = await jsm.streams.getMessage(StreamName.EVENTS, { seq: s }).catch(() => null);
    const e = m?.json<EventRecord>();
    if (e?.type === 'policy.action' && e.data.policy === policy) out.push({ ...e.data, node: e.node });
  }
  return out;
}

test('clock skew - two hosts 10 minutes off (ahead and behind): resume_on_idle resumes both at the right control-plane time', async (t) => {
  const stack = await startStack(t, {
    resume_on_idle: {
      enabled: true,
      idle_threshold_seconds: 20,
      max_retries: 2,
      retry_reset_seconds: 3600,
      cooldown_seconds: 0,
      prompt: 'Keep going.',
    },
  });
  const ahead = await connectSkewedAgent(stack, 'host-ahead', TEN_MIN);
  const behind = await connectSkewedAgent(stack, 'host-behind', -TEN_MIN);
  t.after(() => {
    ahead.close();
    behind.close();
  });
  const idleAt = stack.clock.now();
  await ahead.events([
    { session: 's-ahead', type: 'session.busy' },
    { session: 's-ahead', type: 'session.idle' },
  ]);
  await behind.events([
    { session: 's-behind', type: 'session.busy' },
    { session: 's-behind', type: 'session.idle' },
  ]);
  await settled(stack.nc);

  // By its own clock the host behind has been idle for 10 minutes already; it has not.
  await stack.tick();
  stack.clock.advance(19_000);
  await stack.tick();
  assert.deepEqual(behind.commands, [], 'not resumed before 20 s of control-plane time');
  assert.deepEqual(ahead.commands, [], 'not resumed before 20 s of control-plane time');

  // 21 s of control-plane time: both are resumed now, not 10 minutes late for the host ahead.
  stack.clock.advance(2_000);
  await stack.tick();
  await waitFor(() => ahead.commands.length === 1 && behind.commands.length === 1, {
    message: 'both sessions resumed',
  });
  for (const [agent, session] of [
    [ahead, 's-ahead'],
    [behind, 's-behind'],
  ] as const) {
    assert.deepEqual(agent.commands, [{ type: 'resume', session, at: idleAt + 21_000 }]);
  }
  const reasons = (await policyActions(stack.nc, 'resume_on_idle')).map((a) => [
    a.node,
    a.decision,
    a.reason,
  ]);
  assert.deepEqual(reasons.sort(), [
    ['host-ahead', 'acted', 'idle for 21 s (threshold 20 s)'],
    ['host-behind', 'acted', 'idle for 21 s (threshold 20 s)'],
  ]);
});

test('clock skew - a backlog resent after a disconnect keeps its spacing: five errors an hour apart are no error loop', async (t) => {
  const stack = await startStack(t, {
    error_loop: { enabled: true, errors: 3, window_seconds: 7_200, cooldown_seconds: 0 },
  });
  const agent = await connectSkewedAgent(stack, 'host-spooled', TEN_MIN);
  t.after(() => agent.close());
  const now = stack.clock.now();
  const error = (at: number) => ({
    session: 's-loop',
    type: 'session.error',
    data: { kind: 'APIError', message: 'upstream failed' },
    at,
  });
  // Written over four hours while the host was cut off, all received now: by received_at they
  // are five errors at once; uncorrected, the host clock puts three of them within two hours.
  await agent.events([4, 3, 2, 1, 0].map((h) => error(now - h * HOUR)));
  await settled(stack.nc);
  assert.deepEqual(await policyActions(stack.nc, 'error_loop'), [], 'two errors within 2 h: no loop');

  // One more, live: now three within two hours (1 h ago, and two now).
  await agent.events([error(now)]);
  await settled(stack.nc);
  const actions = await policyActions(stack.nc, 'error_loop');
  assert.equal(actions.length, 1);
  assert.equal(actions[0]?.decision, 'acted');
  assert.match(String(actions[0]?.reason), /^3 errors within 7200 s \(limit 3\)/);
});

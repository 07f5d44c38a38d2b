// Test harness for the gateway's WebSocket side: a real nats-server, a gateway on port 0, and
// fake agents that are plain `ws` clients speaking the protocol by hand.
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection } from '@hal/bus';
import { type Clock, createLogger, createRegistry, type Logger, type Registry } from '@hal/observability';
import {
  type Envelope,
  type EventRecord,
  type EventRecordInput,
  formatProtocolVersion,
  makeEnvelope,
  StreamName,
  WIRE_PROTOCOL,
  type WsPayload,
  type WsType,
} from '@hal/protocol';
import { type NatsServer, startNats, waitFor } from '@hal/testkit';
import WebSocket from 'ws';
import { createGateway, type Gateway, type GatewayConfig, type GatewayLimits } from '../src/index.ts';

export const SHARED_TOKEN = 'shared-token-0123456789';
export const NODE_TOKEN_A = 'node-a-token-0123456789';

export function testConfig(overrides: Partial<GatewayConfig> = {}): GatewayConfig {
  return {
    server: { host: '127.0.0.1', port: 0, auth_token: SHARED_TOKEN },
    heartbeat_interval_sec: 30,
    heartbeat_timeout_count: 3,
    security: {
      tls: { enabled: false },
      origin_allowlist: ['https://dash.example'],
      node_tokens: { 'node-a': NODE_TOKEN_A },
    },
    ...overrides,
  };
}

export const silentLog = createLogger({
  service: 'gateway-test',
  level: process.env.HAL_TEST_LOG ?? 'silent',
});

export interface Env {
  nats: NatsServer;
  nc: NatsConnection;
  registry: Registry;
  gateway: Gateway;
  url: string;
  /** A second gateway with its own NATS connection, same config otherwise. */
  startGateway(opts?: {
    config?: GatewayConfig;
    limits?: Partial<GatewayLimits>;
    id?: string;
    /** Where this gateway's NATS connection goes (e.g. a proxy in front of the test's server). */
    natsUrl?: string;
  }): Promise<Gateway>;
  close(): Promise<void>;
}

export async function startEnv(
  opts: {
    config?: GatewayConfig;
    limits?: Partial<GatewayLimits>;
    nats?: NatsServer;
    log?: Logger;
    clock?: Clock;
    /** With a FakeClock: the timer never fires, the test calls gateway.tick(). */
    heartbeatCheckMs?: number;
  } = {},
): Promise<Env> {
  const nats = opts.nats ?? (await startNats());
  const nc = await connectBus({ url: nats.url, name: 'gateway-test', log: silentLog });
  await ensureStreams(nc);
  const registry = createRegistry({ defaultMetrics: false });
  const extra: Array<{ gw: Gateway; nc: NatsConnection }> = [];
  const gateway = createGateway({
    config: opts.config ?? testConfig(),
    nc,
    log: opts.log ?? silentLog,
    registry,
    gatewayId: 'gw-1',
    limits: opts.limits ?? {},
    stopGraceMs: 500,
    ...(opts.clock === undefined ? {} : { clock: opts.clock }),
    ...(opts.heartbeatCheckMs === undefined ? {} : { heartbeatCheckMs: opts.heartbeatCheckMs }),
  });
  await gateway.start();
  return {
    nats,
    nc,
    registry,
    gateway,
    url: `ws://127.0.0.1:${gateway.address().port}`,
    async startGateway(o = {}) {
      const nc2 = await connectBus({ url: o.natsUrl ?? nats.url, name: 'gateway-test-2', log: silentLog });
      const gw = createGateway({
        config: o.config ?? opts.config ?? testConfig(),
        nc: nc2,
        log: silentLog,
        registry: createRegistry({ defaultMetrics: false }),
        gatewayId: o.id ?? `gw-${extra.length + 2}`,
        limits: o.limits ?? {},
        stopGraceMs: 500,
      });
      await gw.start();
      extra.push({ gw, nc: nc2 });
      return gw;
    },
    async close() {
      for (const { gw, nc: n } of extra) {
        await gw.stop();
        await n.close();
      }
      await gateway.stop();
      await nc.close();
      if (opts.nats === undefined) await nats.stop();
    },
  };
}

export interface FakeAgent {
  ws: WebSocket;
  node: string;
  frames: Envelope[];
  /** Highest ack seen, -1 before any. */
  acked: number;
  closed: Promise<{ code: number; reason: string }>;
  /** `timestamp`: the envelope's, i.e. the host's clock (default: now). */
  send<T extends WsType>(type: T, payload: WsPayload<T>, timestamp?: string): void;
  sendRaw(text: string | Buffer): void;
  waitFrame(pred: (f: Envelope) => boolean, timeoutMs?: number): Promise<Envelope>;
  waitAck(seq: number, timeoutMs?: number): Promise<void>;
  hello(extra?: Partial<WsPayload<'hello'>>, timestamp?: string): Promise<Envelope>;
  close(): Promise<void>;
}

export function connectAgent(
  url: string,
  opts: { node: string; token?: string; origin?: string; onCommand?: (f: Envelope, a: FakeAgent) => void },
): Promise<FakeAgent> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: {
        authorization: `Bearer ${opts.token ?? SHARED_TOKEN}`,
        'x-hal-node': opts.node,
        ...(opts.origin === undefined ? {} : { origin: opts.origin }),
      },
    });
    const waiters = new Set<() => void>();
    const agent: FakeAgent = {
      ws,
      node: opts.node,
      frames: [],
      acked: -1,
      closed: new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() }))),
      send(type, payload, timestamp) {
        const frame = makeEnvelope(type, payload);
        ws.send(JSON.stringify(timestamp === undefined ? frame : { ...frame, timestamp }));
      },
      sendRaw(text) {
        ws.send(text);
      },
      async waitFrame(pred, timeoutMs = 5_000) {
        return waitFor(() => agent.frames.find(pred), {
          timeoutMs,
          message: 'frame not received',
          intervalMs: 5,
        });
      },
      async waitAck(seq, timeoutMs = 10_000) {
        await waitFor(() => agent.acked >= seq, {
          timeoutMs,
          message: `ack ${seq} (have ${agent.acked})`,
          intervalMs: 5,
        });
      },
      async hello(extra = {}, timestamp?: string) {
        agent.send(
          'hello',
          {
            node: opts.node,
            agent_version: '0.1.0-test',
            protocol: formatProtocolVersion(WIRE_PROTOCOL),
            projects: [{ name: 'demo', directory: '/srv/demo' }],
            last_acked_seq: 0,
            ...extra,
          },
          timestamp,
        );
        return agent.waitFrame((f) => f.type === 'welcome' || f.type === 'error');
      },
      async close() {
        if (ws.readyState === WebSocket.CLOSED) return;
        ws.close();
        await agent.closed;
      },
    };
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Envelope;
      if (frame.type === 'ack') agent.acked = Math.max(agent.acked, (frame.payload as { seq: number }).seq);
      else agent.frames.push(frame);
      if (frame.type === 'command') opts.onCommand?.(frame, agent);
      for (const w of waiters) w();
    });
    ws.once('open', () => resolve(agent));
    ws.once('error', reject);
  });
}

export function makeEvent(
  node: string,
  seq: number,
  extra: Partial<EventRecordInput> = {},
): EventRecordInput {
  return {
    version: 1,
    id: crypto.randomUUID(),
    seq,
    node,
    project: 'demo',
    // One session per node by default: a session belongs to the node that reported it first.
    session: `ses_${node}`,
    type: 'session.idle',
    time: new Date().toISOString(),
    data: { n: seq },
    ...extra,
  };
}

export interface StoredEvent {
  subject: string;
  seq: number;
  event: EventRecord;
}

/** Every message in HAL_EVENTS, in stream order, read with an ordered consumer. */
export async function readEvents(nc: NatsConnection, timeoutMs = 10_000): Promise<StoredEvent[]> {
  const js = jetstreamClient(nc);
  const jsm = await js.jetstreamManager();
  const info = await jsm.streams.info(StreamName.EVENTS);
  const total = info.state.messages;
  const out: StoredEvent[] = [];
  if (total === 0) return out;
  const consumer = await js.consumers.get(StreamName.EVENTS);
  const messages = await consumer.consume({ max_messages: 1_000 });
  const timer = setTimeout(() => void messages.close(), timeoutMs);
  for await (const m of messages) {
    out.push({ subject: m.subject, seq: m.seq, event: m.json<EventRecord>() });
    if (out.length >= total) break;
  }
  clearTimeout(timer);
  await messages.close();
  return out;
}

/** Events of agents only (seq > 0), without the gateway's own (node.*, command.executed; seq 0). */
export function agentEvents(stored: StoredEvent[]): StoredEvent[] {
  return stored.filter((s) => s.event.seq > 0);
}

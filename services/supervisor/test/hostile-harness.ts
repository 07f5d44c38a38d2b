// A fleet under attack: a real nats-server, the whole supervisor (real gateway, tracker, policy,
// cost, HTTP API) with per-node tokens and API roles, and agents that are plain WebSocket
// clients speaking the protocol by hand — an honest one, and a hostile one that sends what a
// compromised host could.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectBus, jetstreamClient, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry, type Registry } from '@hal/observability';
import {
  type Envelope,
  type EventRecord,
  type EventRecordInput,
  makeEnvelope,
  type Notification,
  StreamName,
  WIRE_PROTOCOL,
  type WsPayload,
  type WsType,
} from '@hal/protocol';
import { freePort, type NatsServer, startNats, waitFor } from '@hal/testkit';
import WebSocket from 'ws';
import { createSupervisor, type Supervisor } from '../src/supervisor.ts';

export const log = createLogger({ service: 'hostile-test', level: process.env.HAL_TEST_LOG ?? 'silent' });

export const SHARED_TOKEN = 'hostile-shared-token-0123456789';
export const NODE_TOKENS = {
  victim: 'victim-node-token-0123456789',
  mallory: 'mallory-node-token-0123456789',
} as const;
export const API_TOKENS = {
  viewer: 'viewer-api-token-0123456789',
  operator: 'operator-api-token-0123456789',
  admin: 'admin-api-token-0123456789',
} as const;
export type ApiRole = keyof typeof API_TOKENS;

/** Every message of one stream, read live from the first one on. */
export interface StreamReader<T> {
  readonly all: T[];
  wait(pred: (v: T) => boolean, timeoutMs?: number, message?: string): Promise<T>;
  stop(): Promise<void>;
}

async function readStream<T>(nc: NatsConnection, stream: string): Promise<StreamReader<T>> {
  const consumer = await jetstreamClient(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1_000 });
  const all: T[] = [];
  const loop = (async () => {
    for await (const m of messages) all.push(m.json<T>());
  })();
  return {
    all,
    wait: (pred, timeoutMs = 15_000, message = `a message in ${stream}`) =>
      waitFor(() => all.find(pred), { timeoutMs, message, intervalMs: 10 }),
    async stop() {
      await messages.close();
      await loop.catch(() => undefined);
    },
  };
}

export interface HostileFleet {
  nats: NatsServer;
  nc: NatsConnection;
  registry: Registry;
  supervisor: Supervisor;
  wsUrl: string;
  apiUrl: string;
  events: StreamReader<EventRecord>;
  notifications: StreamReader<Notification>;
  /** One API call with a role's token (or a raw Authorization value); the JSON body when there is one. */
  api(
    role: ApiRole | { authorization?: string },
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: unknown }>;
  /** A metric's sample value from the supervisor's registry (0 when absent). */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

export async function startHostileFleet(
  opts: { security?: Record<string, unknown> } = {},
): Promise<HostileFleet> {
  const nats = await startNats();
  const root = mkdtempSync(join(tmpdir(), 'hal-hostile-'));
  const [wsPort, httpPort] = [await freePort(), await freePort()];
  const config = parseConfig(
    'supervisor',
    {
      data_dir: join(root, 'data'),
      nats: { url: nats.url },
      server: { auth_token: SHARED_TOKEN, host: '127.0.0.1', port: wsPort, http_port: httpPort },
      heartbeat_interval_sec: 30,
      policies: { kill_on_cost: { enabled: true, cooldown_seconds: 0 } },
      security: {
        node_tokens: { ...NODE_TOKENS },
        api_tokens: Object.entries(API_TOKENS).map(([role, token]) => ({ name: `${role}-bot`, token, role })),
        max_sse_streams_per_token: 3,
        ...opts.security,
      },
    },
    { env: {} },
  );
  const registry = createRegistry({ defaultMetrics: false });
  const supervisor = createSupervisor({ config, log, registry, loggerFor: () => log });
  await supervisor.start();
  const nc = await connectBus({ url: nats.url, name: 'hostile-test', log });
  const events = await readStream<EventRecord>(nc, StreamName.EVENTS);
  const notifications = await readStream<Notification>(nc, StreamName.NOTIFY);
  const apiUrl = `http://127.0.0.1:${httpPort}`;
  return {
    nats,
    nc,
    registry,
    supervisor,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    apiUrl,
    events,
    notifications,
    async api(role, method, path, body) {
      const headers: Record<string, string> = {};
      if (typeof role === 'string') headers.authorization = `Bearer ${API_TOKENS[role]}`;
      else if (role.authorization !== undefined) headers.authorization = role.authorization;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${apiUrl}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
        signal: AbortSignal.timeout(20_000),
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON (an SSE body or plain text): returned as text.
      }
      return { status: res.status, body: parsed };
    },
    async metric(name, labels = {}) {
      const metric = await registry.getSingleMetric(name)?.get();
      const sample = metric?.values.find((v) =>
        Object.entries(labels).every(
          ([k, want]) => String((v.labels as Record<string, unknown>)[k]) === want,
        ),
      );
      return sample?.value ?? 0;
    },
    async close() {
      await events.stop();
      await notifications.stop();
      await supervisor.stop();
      await nc.close();
      await nats.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** An agent written by hand: it sends exactly what the test says, honest or not. */
export interface WirePeer {
  ws: WebSocket;
  node: string;
  frames: Envelope[];
  /** Commands received (their payloads), in order. */
  commands: Array<WsPayload<'command'>>;
  acked: number;
  closed: Promise<{ code: number; reason: string }>;
  send<T extends WsType>(type: T, payload: WsPayload<T>): void;
  sendRaw(text: string): void;
  errors(): Array<WsPayload<'error'>>;
  waitError(pred: (e: WsPayload<'error'>) => boolean, timeoutMs?: number): Promise<WsPayload<'error'>>;
  waitAck(seq: number, timeoutMs?: number): Promise<void>;
  hello(projects?: Array<{ name: string; directory: string }>): Promise<Envelope>;
  close(): Promise<void>;
}

export function connectPeer(
  url: string,
  opts: {
    node: string;
    token: string;
    /** The command.result data the peer answers with (default `{ ok: true }`). */
    answer?: (command: WsPayload<'command'>) => unknown;
  },
): Promise<WirePeer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers: { authorization: `Bearer ${opts.token}`, 'x-hal-node': opts.node },
    });
    const peer: WirePeer = {
      ws,
      node: opts.node,
      frames: [],
      commands: [],
      acked: -1,
      closed: new Promise((r) => ws.once('close', (code, reason) => r({ code, reason: reason.toString() }))),
      send(type, payload) {
        ws.send(JSON.stringify(makeEnvelope(type, payload)));
      },
      sendRaw(text) {
        ws.send(text);
      },
      errors: () => peer.frames.filter((f) => f.type === 'error').map((f) => f.payload as WsPayload<'error'>),
      waitError(pred, timeoutMs = 10_000) {
        return waitFor(() => peer.errors().find(pred), {
          timeoutMs,
          message: 'error frame',
          intervalMs: 5,
        });
      },
      async waitAck(seq, timeoutMs = 10_000) {
        await waitFor(() => peer.acked >= seq, {
          timeoutMs,
          message: `ack ${seq} (have ${peer.acked})`,
          intervalMs: 5,
        });
      },
      async hello(projects = [{ name: `${opts.node}-proj`, directory: `/srv/${opts.node}` }]) {
        peer.send('hello', {
          node: opts.node,
          agent_version: '0.1.0-test',
          protocol: `${WIRE_PROTOCOL.major}.${WIRE_PROTOCOL.minor}`,
          projects,
          last_acked_seq: 0,
        } as WsPayload<'hello'>);
        return waitFor(() => peer.frames.find((f) => f.type === 'welcome' || f.type === 'error'), {
          message: 'welcome',
          intervalMs: 5,
        });
      },
      async close() {
        if (ws.readyState === WebSocket.CLOSED) return;
        ws.close();
        await peer.closed;
      },
    };
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as Envelope;
      if (frame.type === 'ack') {
        peer.acked = Math.max(peer.acked, (frame.payload as { seq: number }).seq);
        return;
      }
      peer.frames.push(frame);
      if (frame.type === 'command') {
        const command = frame.payload as WsPayload<'command'>;
        peer.commands.push(command);
        const data = opts.answer?.(command) ?? { ok: true };
        ws.send(
          JSON.stringify(makeEnvelope('command.result', { command_id: command.command_id, ok: true, data })),
        );
      }
    });
    ws.once('open', () => resolve(peer));
    ws.once('error', reject);
  });
}

/** An event record of `node`; `seq` orders it in the peer's stream. */
export function event(node: string, seq: number, extra: Partial<EventRecordInput> = {}): EventRecordInput {
  return {
    version: 1,
    id: crypto.randomUUID(),
    seq,
    node,
    project: `${node}-proj`,
    session: `ses_${node}`,
    type: 'session.busy',
    time: new Date().toISOString(),
    data: {},
    ...extra,
  };
}

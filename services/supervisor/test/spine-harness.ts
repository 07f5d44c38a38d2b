// End-to-end spine harness: a real nats-server, the real gateway (WebSocket side), real agents
// (in-process via createAgent, or the hal-agent bin as a child process), a TCP proxy that can cut
// or freeze the agent ↔ gateway link, and a live reader of HAL_EVENTS.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket, connect as tcpConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Agent, createAgent, type EventDraft } from '@hal/agent';
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createGateway, type Gateway } from '@hal/gateway';
import { createLogger, createRegistry } from '@hal/observability';
import { type EventRecord, type Reply, StreamName, subjects } from '@hal/protocol';
import { compiledEntry, freePort, type NatsServer, startNats, waitFor } from '@hal/testkit';

export const TOKEN = 'spine-token-0123456789abcdef';
export const HEARTBEAT_SEC = 1;
export const TIMEOUT_COUNT = 2;
export const HEARTBEAT_TIMEOUT_MS = HEARTBEAT_SEC * TIMEOUT_COUNT * 1000;
export const actor = { kind: 'user', id: 'spine-test' } as const;

export const log = createLogger({ service: 'spine-test', level: process.env.HAL_TEST_LOG ?? 'silent' });

export interface StoredEvent {
  subject: string;
  /** Stream sequence: the order JetStream holds them in. */
  streamSeq: number;
  event: EventRecord;
}

/** Every HAL_EVENTS message, read live by an ordered consumer from the first one on. */
export interface EventCollector {
  readonly all: StoredEvent[];
  /** Events stored after the first `from` (an earlier `all.length`), matching `pred`. */
  since(from: number, pred: (e: EventRecord) => boolean): EventRecord[];
  of(pred: (e: EventRecord) => boolean): EventRecord[];
  /** Waits for an event matching `pred` and returns it. */
  wait(pred: (e: EventRecord) => boolean, timeoutMs?: number, message?: string): Promise<EventRecord>;
  stop(): Promise<void>;
}

async function collectEvents(nc: NatsConnection): Promise<EventCollector> {
  const js = jetstreamClient(nc);
  const consumer = await js.consumers.get(StreamName.EVENTS);
  const messages = await consumer.consume({ max_messages: 2_000 });
  const all: StoredEvent[] = [];
  const loop = (async () => {
    for await (const m of messages) {
      all.push({ subject: m.subject, streamSeq: m.seq, event: m.json<EventRecord>() });
    }
  })();
  const of = (pred: (e: EventRecord) => boolean) => all.map((s) => s.event).filter(pred);
  return {
    all,
    of,
    since: (from, pred) =>
      all
        .slice(from)
        .map((s) => s.event)
        .filter(pred),
    wait(pred, timeoutMs = 20_000, message = 'event in HAL_EVENTS') {
      return waitFor(() => all.find((s) => pred(s.event))?.event, { timeoutMs, message, intervalMs: 10 });
    },
    async stop() {
      await messages.close();
      await loop.catch(() => undefined);
    },
  };
}

export interface Spine {
  nats: NatsServer;
  nc: NatsConnection;
  events: EventCollector;
  /** ws://127.0.0.1:<port> of the gateway; the port survives restartGateway(). */
  wsUrl: string;
  wsPort: number;
  gateway(): Gateway | undefined;
  stopGateway(): Promise<void>;
  startGateway(): Promise<void>;
  /** Sends a command on hal.cmd.<node> and returns the Reply as the caller sees it. */
  command(node: string, command: Record<string, unknown>, timeoutMs?: number): Promise<Reply<unknown>>;
  close(): Promise<void>;
}

/**
 * nats-server + HAL streams + the gateway, configured through @hal/config like the supervisor's.
 * `timeoutCount` defaults to TIMEOUT_COUNT; files that block the event loop (10,000-event bursts
 * appended in-process) use more, since a late timer there reads as a missed beat.
 */
export async function startSpine(opts: { timeoutCount?: number } = {}): Promise<Spine> {
  const nats = await startNats();
  const nc = await connectBus({ url: nats.url, name: 'spine-test', log });
  await ensureStreams(nc);
  const events = await collectEvents(nc);
  const wsPort = await freePort();
  const config = parseConfig(
    'supervisor',
    {
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: 0 },
      heartbeat_interval_sec: HEARTBEAT_SEC,
      heartbeat_timeout_count: opts.timeoutCount ?? TIMEOUT_COUNT,
    },
    { env: {} },
  );
  let gateway: Gateway | undefined;
  let generation = 0;
  const spine: Spine = {
    nats,
    nc,
    events,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    wsPort,
    gateway: () => gateway,
    async startGateway() {
      generation += 1;
      gateway = createGateway({
        config,
        nc,
        log,
        registry: createRegistry({ defaultMetrics: false }),
        gatewayId: `gw-${generation}`,
        stopGraceMs: 500,
      });
      await gateway.start();
    },
    async stopGateway() {
      await gateway?.stop();
      gateway = undefined;
    },
    async command(node, command, timeoutMs = 20_000) {
      const body = { version: 1, command, actor, timeout_ms: timeoutMs };
      const msg = await nc.request(subjects.command(node), JSON.stringify(body), {
        timeout: timeoutMs + 2000,
      });
      return msg.json<Reply<unknown>>();
    },
    async close() {
      await spine.stopGateway();
      await events.stop();
      await nc.close();
      await nats.stop();
    },
  };
  await spine.startGateway();
  return spine;
}

export interface AgentOptions {
  node: string;
  supervisorUrl: string;
  opencodeUrl: string;
  projects: Array<{ name: string; directory: string }>;
  /** Reuse a data dir (restart with the same spool); default a fresh temp dir. */
  dataDir?: string;
}

export interface TestAgent {
  agent: Agent;
  dataDir: string;
  /** Stops the agent (socket and SSE only; opencode keeps running). */
  stop(): Promise<void>;
  /** Stops it and removes the data dir. */
  dispose(): Promise<void>;
}

/** The agent config a real hal-agent would load, built through @hal/config. */
export function agentConfig(opts: AgentOptions & { dataDir: string }) {
  return parseConfig(
    'agent',
    {
      node_id: opts.node,
      supervisor_url: opts.supervisorUrl,
      auth_token: TOKEN,
      opencode: { url: opts.opencodeUrl },
      projects: opts.projects,
      data_dir: opts.dataDir,
      heartbeat_interval_sec: HEARTBEAT_SEC,
      reconnect: { initial_ms: 100, max_ms: 1000 },
      command_timeout_ms: 20_000,
    },
    { env: {} },
  );
}

/** A real agent in this process; resolves once it holds a welcomed connection. */
export async function startAgent(opts: AgentOptions): Promise<TestAgent> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), `hal-spine-${opts.node}-`));
  // The agent serves commands as soon as it is welcomed, which can be before its first opencode
  // subscription is live; tests wait for the log line that says it is, so no event falls in between.
  let subscribed = 0;
  const agentLog = createLogger({
    service: 'agent',
    node: opts.node,
    level: 'info',
    destination: {
      write(line: string) {
        if (line.includes('"opencode events subscribed and reconciled"')) subscribed += 1;
        if (process.env.HAL_TEST_LOG !== undefined) process.stderr.write(line);
      },
    },
  });
  const agent = createAgent({
    config: agentConfig({ ...opts, dataDir }),
    log: agentLog,
    sseBackoff: { initialMs: 100, maxMs: 500 },
  });
  await agent.start();
  await waitFor(() => agent.connection()?.ready() && subscribed > 0, {
    timeoutMs: 15_000,
    message: `${opts.node} welcomed and subscribed to opencode`,
  });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await agent.stop();
  };
  return {
    agent,
    dataDir,
    stop,
    async dispose() {
      await stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const AGENT_MAIN = fileURLToPath(new URL('../../agent/src/main.ts', import.meta.url));

export interface AgentProcess {
  child: ChildProcess;
  exited: Promise<void>;
}

/**
 * hal-agent as a child process (its main compiled once by testkit's compiledEntry), for crash tests:
 * SIGKILL is a real crash.
 */
export async function spawnAgentProcess(opts: AgentOptions & { dataDir: string }): Promise<AgentProcess> {
  const file = join(opts.dataDir, 'agent.config.json');
  const { opencode, ...rest } = agentConfig(opts);
  writeFileSync(file, JSON.stringify({ ...rest, opencode: { url: opencode.url } }));
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  const child = spawn(process.execPath, [await compiledEntry(AGENT_MAIN), '--config', file], {
    env,
    stdio: 'ignore',
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited };
}

/** Event drafts for `agent.spool.append`: `count` events round-robin over `sessions`, data.n in order. */
export function bulkDrafts(node: string, project: string, sessions: string[], count: number): EventDraft[] {
  return Array.from({ length: count }, (_, i) => ({
    version: 1 as const,
    id: crypto.randomUUID(),
    node,
    project,
    session: sessions[i % sessions.length] ?? null,
    type: 'message.part',
    time: new Date().toISOString(),
    data: { n: i, text: `bulk event ${i} `.padEnd(200, '.') },
  }));
}

/**
 * Checks that `stored` (stream order) holds every id of `expected` exactly once and, per session,
 * in the order of `data.n`. Returns a description of the first problem, or undefined.
 */
export function exactlyOnceInOrder(
  stored: EventRecord[],
  expected: readonly EventDraft[],
): string | undefined {
  const want = new Set(expected.map((d) => d.id));
  const seen = new Map<string, number>();
  for (const e of stored) if (want.has(e.id)) seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
  const missing = expected.filter((d) => !seen.has(d.id)).length;
  const doubled = [...seen.values()].filter((n) => n > 1).length;
  if (missing > 0 || doubled > 0) return `missing ${missing}, stored more than once ${doubled}`;
  const lastN = new Map<string | null, number>();
  for (const e of stored) {
    if (!want.has(e.id)) continue;
    const n = Number(e.data.n);
    const prev = lastN.get(e.session) ?? -1;
    if (n <= prev) return `session ${e.session}: n=${n} stored after n=${prev}`;
    lastN.set(e.session, n);
  }
  return undefined;
}

/**
 * A TCP pass-through in front of the gateway. `cut()` drops every open link (both sides see the
 * socket die); `freeze()` stops forwarding agent → gateway bytes on the open links while keeping
 * the sockets open (a half-dead network path). New connections always pass.
 */
export interface TcpProxy {
  url: string;
  cut(): void;
  freeze(): void;
  stop(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const links = new Set<{ client: Socket; upstream: Socket }>();
  const server = createServer((client) => {
    const upstream = tcpConnect(targetPort, '127.0.0.1');
    const link = { client, upstream };
    links.add(link);
    client.pipe(upstream);
    upstream.pipe(client);
    const end = () => {
      links.delete(link);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end);
    upstream.on('error', end);
    client.on('close', end);
    upstream.on('close', end);
  });
  server.listen(0, '127.0.0.1');
  await new Promise<void>((r) => server.once('listening', () => r()));
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `ws://127.0.0.1:${port}`,
    cut() {
      for (const { client, upstream } of links) {
        client.destroy();
        upstream.destroy();
      }
      links.clear();
    },
    freeze() {
      for (const { client, upstream } of links) {
        client.unpipe(upstream);
        client.pause();
      }
    },
    async stop() {
      for (const { client, upstream } of links) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Types of `events` in order. */
export const typesOf = (events: EventRecord[]): string[] => events.map((e) => e.type);

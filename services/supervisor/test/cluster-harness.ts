// Multi-host harness: a real 3-node NATS cluster (testkit), the control plane in this process on
// it (every service, nats.replicas 3), a second gateway as its own OS process (hal-gateway from
// source, so it can be SIGKILLed), and simulated agents that run the agent's real connection and
// spool code (@hal/agent createConnection + openSpool) over the real WebSocket protocol — the
// volume of events a chaos test needs, without an opencode per host.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection, openSpool } from '@hal/agent';
import { connectBus, jetstreamClient, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { type EventRecord, StreamName } from '@hal/protocol';
import type { ServiceEntry } from '@hal/runtime';
import {
  freePort,
  type NatsCluster,
  type SimAgent,
  startNatsCluster,
  startSimAgent as startTestkitSimAgent,
} from '@hal/testkit';
import { createSupervisor, type Supervisor } from '../src/supervisor.ts';
import { type ServiceProcess, startServiceProcess } from './service-process.ts';

export const TOKEN = 'cluster-e2e-token-0123456789abcdef';
const verbose = process.env.HAL_TEST_LOG !== undefined;
export const log = createLogger({ service: 'cluster-test', level: process.env.HAL_TEST_LOG ?? 'silent' });

/** A gateway (WebSocket + API) running as its own process: `hal-gateway --config`. */
export interface GatewayProcess extends ServiceProcess {
  wsUrl: string;
  apiUrl: string;
  /** As written to its config file: start it again on this to restart the same gateway. */
  config: Record<string, unknown>;
}

export async function startGatewayProcess(opts: {
  natsUrl: string;
  replicas: number;
  dir: string;
  name: string;
}): Promise<GatewayProcess> {
  const port = await freePort();
  const proc = await startServiceProcess({
    service: 'gateway',
    name: opts.name,
    dir: opts.dir,
    config: {
      nats: { url: opts.natsUrl, replicas: opts.replicas },
      server: { auth_token: TOKEN, port },
      heartbeat_interval_sec: 1,
      heartbeat_timeout_count: 3,
    },
  });
  return Object.assign(proc, { wsUrl: `ws://127.0.0.1:${port}`, apiUrl: proc.httpUrl });
}

export interface ClusterStack {
  cluster: NatsCluster;
  /** The test's own connection (all cluster URLs). */
  nc: NatsConnection;
  supervisor: Supervisor;
  /** The in-process control plane's gateway and API. */
  wsUrl: string;
  apiUrl: string;
  dir: string;
  api<T = unknown>(path: string, post?: Record<string, unknown>): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/**
 * A 3-node cluster (or the one given, which stays running on close), then the control plane
 * (every service, or `services`) on it with nats.replicas 3 and `config` on top.
 */
export async function startClusterStack(
  opts: {
    cluster?: NatsCluster;
    services?: readonly ServiceEntry[];
    config?: Record<string, unknown>;
    dir?: string;
  } = {},
): Promise<ClusterStack> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'hal-cluster-'));
  const cluster = opts.cluster ?? (await startNatsCluster(3));
  const [wsPort, httpPort] = [await freePort(), await freePort()];
  const config = parseConfig(
    'supervisor',
    {
      data_dir: join(dir, 'control'),
      nats: { url: cluster.url, replicas: 3 },
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: httpPort },
      heartbeat_interval_sec: 1,
      heartbeat_timeout_count: 3,
      ...opts.config,
    },
    { env: {} },
  );
  const supervisor = createSupervisor({
    config,
    ...(opts.services === undefined ? {} : { services: opts.services }),
    log,
    loggerFor: () => log,
    registry: createRegistry({ defaultMetrics: false }),
  });
  await supervisor.start();
  const nc = await connectBus({ url: cluster.url, name: 'cluster-test', log });
  const apiUrl = `http://127.0.0.1:${httpPort}`;
  return {
    cluster,
    nc,
    supervisor,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    apiUrl,
    dir,
    async api<T>(path: string, post?: Record<string, unknown>) {
      const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
      const init: RequestInit =
        post === undefined
          ? { headers, signal: AbortSignal.timeout(15_000) }
          : {
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify(post),
              signal: AbortSignal.timeout(15_000),
            };
      const res = await fetch(`${apiUrl}${path}`, init);
      return { status: res.status, body: (await res.json()) as T };
    },
    async close() {
      await nc.close();
      await supervisor.stop();
      if (opts.cluster === undefined) await cluster.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export type { SimAgent } from '@hal/testkit';

export const PROJECT = { name: 'chaos', directory: '/srv/chaos' };

/** A host's agent without opencode (testkit's simulated agent): records what it sent, ran and whom it reached. */
export function startSimAgent(opts: {
  node: string;
  urls: readonly string[];
  dir: string;
}): Promise<SimAgent> {
  return startTestkitSimAgent({
    ...opts,
    parts: { createConnection, openSpool },
    token: TOKEN,
    project: PROJECT,
    record: true,
    ...(verbose ? { onLogLine: (line: string) => process.stderr.write(line) } : {}),
  });
}

/** Every record of `stream` (stream order), read with an ordered consumer up to the last message now. */
export async function streamRecords<T>(
  nc: NatsConnection,
  stream: string,
): Promise<Array<{ seq: number; record: T }>> {
  const js = jetstreamClient(nc);
  const jsm = await js.jetstreamManager();
  const last = (await jsm.streams.info(stream)).state.last_seq;
  const out: Array<{ seq: number; record: T }> = [];
  if (last === 0) return out;
  const consumer = await js.consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1_000 });
  for await (const m of messages) {
    out.push({ seq: m.seq, record: m.json<T>() });
    if (m.seq >= last) break;
  }
  await messages.close();
  return out;
}

/** Every agent event in HAL_EVENTS (stream order); control-plane events (node.online, …) left out. */
export async function storedAgentEvents(
  nc: NatsConnection,
): Promise<Array<EventRecord & { stream_seq: number }>> {
  return (await streamRecords<EventRecord>(nc, StreamName.EVENTS))
    .filter((m) => m.record.session !== null)
    .map((m) => ({ ...m.record, stream_seq: m.seq }));
}

/**
 * What a chaos run must leave behind, per agent: every event it sent stored exactly once, and
 * each session's events in the order the agent numbered them. Returns the problems found.
 */
export function deliveryProblems(agents: readonly SimAgent[], stored: ReadonlyArray<EventRecord>): string[] {
  const problems: string[] = [];
  const copies = new Map<string, number>();
  for (const e of stored) copies.set(e.id, (copies.get(e.id) ?? 0) + 1);
  for (const agent of agents) {
    const sessionEvents = agent.sent.filter((e) => e.session !== null);
    const missing = sessionEvents.filter((e) => !copies.has(e.id));
    const doubled = sessionEvents.filter((e) => (copies.get(e.id) ?? 0) > 1);
    if (missing.length > 0)
      problems.push(`${agent.node}: ${missing.length} events never stored (first seq ${missing[0]?.seq})`);
    if (doubled.length > 0)
      problems.push(`${agent.node}: ${doubled.length} events stored twice (first seq ${doubled[0]?.seq})`);
    const bySession = new Map<string, number[]>();
    for (const e of stored) {
      if (e.node !== agent.node || e.session === null) continue;
      bySession.set(e.session, [...(bySession.get(e.session) ?? []), e.seq]);
    }
    for (const [session, seqs] of bySession) {
      const at = seqs.findIndex((s, i) => i > 0 && s <= (seqs[i - 1] ?? 0));
      if (at > 0) problems.push(`${agent.node}/${session}: seq ${seqs[at]} stored after seq ${seqs[at - 1]}`);
    }
  }
  return problems;
}

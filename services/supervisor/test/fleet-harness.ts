// End-to-end fleet harness: the whole supervisor (createSupervisor with the real services and
// its embedded nats-server, so every service runs as its own NATS user with its permissions) on
// fixed ports so it can be stopped and started on the same data_dir, real agents in-process on
// real opencode, halctl run as its real bin, and live readers of HAL_EVENTS / HAL_NOTIFY.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Agent, createAgent } from '@hal/agent';
import { connectBus, jetstreamClient, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { createPolicy } from '@hal/policy';
import { type EventRecord, NatsUser, type Notification, StreamName } from '@hal/protocol';
import type { ServiceEntry } from '@hal/runtime';
import { compiledEntry, freePort, waitFor } from '@hal/testkit';
import { SERVICES } from '../src/services.ts';
import { createSupervisor, type Supervisor } from '../src/supervisor.ts';

export const TOKEN = 'fleet-e2e-token-0123456789abcdef';
const HEARTBEAT_SEC = 1;

export const log = createLogger({ service: 'fleet-test', level: process.env.HAL_TEST_LOG ?? 'silent' });

/** Every message of one stream, read live by an ordered consumer from the first one on. */
export interface StreamReader<T> {
  /** In stream order; `seq` is the stream sequence. */
  readonly all: Array<{ subject: string; seq: number; value: T }>;
  of(pred: (v: T, subject: string) => boolean): T[];
  stop(): Promise<void>;
}

export async function readStream<T>(nc: NatsConnection, stream: string): Promise<StreamReader<T>> {
  const consumer = await jetstreamClient(nc).consumers.get(stream);
  const messages = await consumer.consume({ max_messages: 1_000 });
  const all: Array<{ subject: string; seq: number; value: T }> = [];
  const loop = (async () => {
    for await (const m of messages) all.push({ subject: m.subject, seq: m.seq, value: m.json<T>() });
  })();
  return {
    all,
    of: (pred) => all.filter((m) => pred(m.value, m.subject)).map((m) => m.value),
    async stop() {
      await messages.close();
      await loop.catch(() => undefined);
    },
  };
}

export interface HalctlResult {
  code: number;
  stdout: string;
  stderr: string;
}

const HALCTL_MAIN = fileURLToPath(new URL('../../halctl/src/main.ts', import.meta.url));

export interface Fleet {
  /** The test's own NATS connection (reads streams) as the admin user; after startSupervisor(). */
  readonly nc: NatsConnection;
  /** The embedded server's `nats permission violation` warnings: each service stays within its rights. */
  violations(): Array<{ user: string; subject: string }>;
  events: StreamReader<EventRecord>;
  notifications: StreamReader<Notification>;
  dataDir: string;
  wsUrl: string;
  apiUrl: string;
  supervisor(): Supervisor | undefined;
  startSupervisor(): Promise<void>;
  stopSupervisor(): Promise<void>;
  /** Runs halctl (its main, compiled once by testkit's compiledEntry) against the API with HAL_URL/HAL_TOKEN. */
  halctl(args: string[]): Promise<HalctlResult>;
  /** A call on the API with the admin token (GET unless `post` gives a body); returns the JSON body. */
  api<T = unknown>(path: string, post?: Record<string, unknown>): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export interface FleetOptions {
  /** `policies` of the supervisor config, as in supervisor.config.json. */
  policies?: Record<string, unknown>;
  /** Policy tick; the supervisor's entry uses the service default (5 s). */
  policyTickMs?: number;
  /** `cost` of the supervisor config (model rates, budgets), as in supervisor.config.json. */
  cost?: Record<string, unknown>;
  /** `channels.discord` of the supervisor config (runs the Discord bridge), as in supervisor.config.json. */
  discord?: Record<string, unknown>;
  /** `dependencies` of the supervisor config. */
  dependencies?: Record<string, unknown>;
}

/**
 * The real services in the supervisor's order; only the policy entry is swapped when the test
 * needs a faster tick than the production default (its entry takes no tick option).
 */
function servicesWith(opts: FleetOptions): readonly ServiceEntry[] {
  const tickMs = opts.policyTickMs;
  if (tickMs === undefined) return SERVICES;
  return SERVICES.map((entry) =>
    entry.name === 'policy'
      ? {
          name: 'policy',
          natsUser: NatsUser.POLICY,
          create: (deps) => createPolicy({ ...deps, tickMs }),
        }
      : entry,
  );
}

/** The supervisor, not yet started: call startSupervisor(). */
export async function startFleet(opts: FleetOptions = {}): Promise<Fleet> {
  const root = mkdtempSync(join(tmpdir(), 'hal-fleet-'));
  const dataDir = join(root, 'data');
  const [wsPort, httpPort, natsPort] = [await freePort(), await freePort(), await freePort()];
  const config = parseConfig(
    'supervisor',
    {
      data_dir: dataDir,
      // Embedded, on a fixed port: a restarted supervisor's server comes back where the test's
      // connection reconnects.
      nats: { embedded_port: natsPort },
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: httpPort },
      heartbeat_interval_sec: HEARTBEAT_SEC,
      heartbeat_timeout_count: 3,
      ...(opts.policies === undefined ? {} : { policies: opts.policies }),
      ...(opts.cost === undefined ? {} : { cost: opts.cost }),
      ...(opts.dependencies === undefined ? {} : { dependencies: opts.dependencies }),
      ...(opts.discord === undefined ? {} : { channels: { discord: opts.discord } }),
    },
    { env: {} },
  );
  const services = servicesWith(opts);
  let nc: NatsConnection | undefined;
  const violations: Array<{ user: string; subject: string }> = [];
  // The supervisor's own log: the harness's level for people, the refusals for the test.
  const supervisorLog = createLogger({
    service: 'supervisor',
    level: 'warn',
    destination: {
      write(line: string) {
        if (line.includes('"msg":"nats permission violation"')) {
          const { user, subject } = JSON.parse(line) as { user: string; subject: string };
          violations.push({ user, subject });
        }
        if (process.env.HAL_TEST_LOG !== undefined) process.stderr.write(line);
      },
    },
  });
  let supervisor: Supervisor | undefined;
  let events: StreamReader<EventRecord> | undefined;
  let notifications: StreamReader<Notification> | undefined;
  const apiUrl = `http://127.0.0.1:${httpPort}`;

  const fleet: Fleet = {
    get nc() {
      if (nc === undefined) throw new Error('startSupervisor() first: it starts NATS');
      return nc;
    },
    violations: () => [...violations],
    get events() {
      if (events === undefined) throw new Error('startSupervisor() first: it creates the streams');
      return events;
    },
    get notifications() {
      if (notifications === undefined) throw new Error('startSupervisor() first: it creates the streams');
      return notifications;
    },
    dataDir,
    wsUrl: `ws://127.0.0.1:${wsPort}`,
    apiUrl,
    supervisor: () => supervisor,
    async startSupervisor() {
      supervisor = createSupervisor({
        config,
        log: supervisorLog,
        loggerFor: () => log,
        registry: createRegistry({ defaultMetrics: false }),
        services,
      });
      await supervisor.start();
      if (nc === undefined) {
        const file = join(dataDir, 'nats-credentials.json');
        const users = (JSON.parse(readFileSync(file, 'utf8')) as { users: Record<string, string> }).users;
        nc = await connectBus({
          url: `nats://127.0.0.1:${natsPort}`,
          name: 'fleet-test',
          log,
          auth: { user: NatsUser.ADMIN, password: users[NatsUser.ADMIN] ?? '' },
        });
      }
      // The supervisor creates the streams; the readers follow them from the first message on.
      events ??= await readStream<EventRecord>(nc, StreamName.EVENTS);
      notifications ??= await readStream<Notification>(nc, StreamName.NOTIFY);
    },
    async stopSupervisor() {
      await supervisor?.stop();
      supervisor = undefined;
    },
    async halctl(args) {
      const bin = await compiledEntry(HALCTL_MAIN);
      const env: NodeJS.ProcessEnv = {};
      for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
      Object.assign(env, {
        HAL_URL: apiUrl,
        HAL_TOKEN: TOKEN,
        // No developer config file may leak into the run.
        HOME: '/nonexistent-halctl-home',
      });
      const t0 = Date.now();
      return new Promise((resolve) => {
        execFile(process.execPath, [bin, ...args], { env, timeout: 30_000 }, (err, stdout, stderr) => {
          const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
          if (process.env.HAL_TEST_LOG !== undefined)
            process.stderr.write(`halctl ${args.join(' ')} ${Date.now() - t0}ms code ${code}\n`);
          resolve({ code, stdout, stderr });
        });
      });
    },
    async api<T>(path: string, post?: Record<string, unknown>) {
      const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
      const init: RequestInit =
        post === undefined
          ? { headers }
          : {
              method: 'POST',
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify(post),
            };
      const res = await fetch(`${apiUrl}${path}`, init);
      return { status: res.status, body: (await res.json()) as T };
    },
    async close() {
      // Readers and the test's connection first: the supervisor stops NATS with it.
      await events?.stop();
      await notifications?.stop();
      await nc?.close();
      await fleet.stopSupervisor();
      rmSync(root, { recursive: true, force: true });
      // Every fleet test also checks that no service needed a right its NATS user lacks.
      if (violations.length > 0) {
        throw new Error(`NATS permission violations during the run: ${JSON.stringify(violations)}`);
      }
    },
  };
  return fleet;
}

export interface TestAgent {
  agent: Agent;
  stop(): Promise<void>;
}

/** A real agent in this process; resolves once it is welcomed and watching opencode. */
export async function startAgent(opts: {
  node: string;
  supervisorUrl: string;
  opencodeUrl: string;
  projects: Array<{ name: string; directory: string }>;
  /** The agent config's `env` section (privileged helper, opencode env file). */
  env?: Record<string, unknown>;
  /** What the agent's environment checks see (PATH with shims); default process.env. */
  hostEnv?: Record<string, string | undefined>;
}): Promise<TestAgent> {
  const dataDir = mkdtempSync(join(tmpdir(), `hal-fleet-${opts.node}-`));
  // Commands are served as soon as the agent is welcomed, possibly before its opencode
  // subscription is live; waiting for this log line means no event of a new session is missed.
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
  const config = parseConfig(
    'agent',
    {
      node_id: opts.node,
      supervisor_url: opts.supervisorUrl,
      auth_token: TOKEN,
      opencode: { url: opts.opencodeUrl },
      projects: opts.projects,
      data_dir: dataDir,
      heartbeat_interval_sec: HEARTBEAT_SEC,
      reconnect: { initial_ms: 100, max_ms: 1000 },
      command_timeout_ms: 20_000,
      ...(opts.env === undefined ? {} : { env: opts.env }),
    },
    { env: {} },
  );
  const agent = createAgent({
    config,
    log: agentLog,
    sseBackoff: { initialMs: 100, maxMs: 500 },
    ...(opts.hostEnv === undefined ? {} : { hostEnv: opts.hostEnv }),
  });
  await agent.start();
  await waitFor(() => agent.connection()?.ready() && subscribed > 0, {
    timeoutMs: 20_000,
    message: `${opts.node} welcomed and subscribed to opencode`,
  });
  let stopped = false;
  return {
    agent,
    async stop() {
      if (stopped) return;
      stopped = true;
      await agent.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Parses halctl `--json` output, failing with what halctl printed when it did not succeed. */
export function jsonOf<T>(r: HalctlResult): T {
  if (r.code !== 0) throw new Error(`halctl exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

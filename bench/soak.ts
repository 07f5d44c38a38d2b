// `npm run soak -- --minutes N`: the whole system as production runs it — a real `hal-supervisor`
// process (every service) on a real nats-server — under a steady load for N minutes: `--rate`
// events/s from `--agents` simulated hosts that run the agent's real connection and spool code
// (@hal/agent) over the real WebSocket protocol, cut at random by a TCP proxy (each comes back
// with its backoff and resends what the gateway had not acked), while commands flow through the
// HTTP API to random nodes. Each minute: RSS of every process and the lag of every durable
// consumer on HAL_EVENTS. nats-server's RSS is judged against a raw control run beside it: a
// second nats-server with the same HAL_EVENTS stream and durable consumers, fed the same messages
// by a raw client and drained by raw consumers, so the store's own growth is not called ours.
// Exit 1 on RSS growth over 5 % after warm-up (nats-server: beyond the control's), lag that keeps
// growing, a backlog that does not drain at the end, or a process that died. Loopback only;
// everything started here is stopped on exit, Ctrl-C and SIGTERM. Not part of `npm test`.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createConnection, openSpool } from '@hal/agent';
import { connectBus, jetstreamClient, type NatsConnection } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { StreamName } from '@hal/protocol';
import {
  freePort,
  type NatsServer,
  type SimAgent,
  type SimEvent,
  startNats,
  startSimAgent,
  waitFor,
} from '@hal/testkit';
import { z } from 'zod';
import { type BenchChild, startChild } from './scale/children.ts';
import { percentile } from './stats.ts';

const SUPERVISOR_BIN = fileURLToPath(
  new URL('../services/supervisor/bin/hal-supervisor.js', import.meta.url),
);
const TOKEN = 'soak-token-0123456789abcdef0123456789';
const PROJECT = { name: 'soak', directory: '/srv/soak' };
const SESSIONS_PER_AGENT = 2;
/** Emission tick: each agent appends its share of a tick in one spool transaction, as a busy agent batches. */
const TICK_MS = 200;
/** Each live agent socket is cut with this probability each second: about once a minute per agent. */
const CUT_PER_SECOND = 1 / 60;
const SAMPLE_MS = 5_000;
const RSS_GROWTH_LIMIT = 0.05;
/** Averaging window for the RSS shown at the end of warm-up and at the end of the run. */
const RSS_WINDOW_MS = 30_000;
/** After the duplicate window is full, time for nats-server's heap to settle at its collector's target. */
const NATS_HEAP_SETTLE_MS = 2 * 60_000;
const DRAIN_TIMEOUT_MS = 60_000;
const COMMAND_EVERY_MS = 250;
const COMMANDS_IN_FLIGHT = 8;
/** API calls may fail with their node connected (e.g. an inject past its 5 s timeout) up to this share of those that succeed. */
const COMMAND_FAILURE_LIMIT = 0.01;

const flagsSchema = z.strictObject({
  minutes: z.coerce.number().int().min(1).max(1440),
  agents: z.coerce.number().int().min(1).max(1000).default(100),
  rate: z.coerce.number().int().min(1).max(100_000).default(1000),
});

function parseFlags(argv: string[]): z.output<typeof flagsSchema> {
  let values: Record<string, unknown>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { minutes: { type: 'string' }, agents: { type: 'string' }, rate: { type: 'string' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  const parsed = flagsSchema.safeParse(values);
  if (!parsed.success) {
    usage(parsed.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
  }
  return parsed.data;
}

function usage(problem: string): never {
  console.error(`soak: ${problem}`);
  console.error('usage: npm run soak -- --minutes N (1–1440) [--agents 100] [--rate 1000]');
  process.exit(2);
}

const flags = parseFlags(process.argv.slice(2));
const say = (line: string): void => {
  console.log(line);
};
const mib = (kb: number): string => `${(kb / 1024).toFixed(1)} MiB`;

/** VmRSS (or another field of /proc/<pid>/status, e.g. RssAnon) of a process, in kB; undefined when it is gone. */
function rssKb(pid: number, field = 'VmRSS'): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m?.[1] === undefined ? undefined : Number(m[1]);
  } catch {
    return undefined;
  }
}

// ---- cleanup: every start below registers its stop, run in reverse once (normal end, throw, signal)
const cleanups: Array<() => Promise<void> | void> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const stop of cleanups.reverse()) {
      try {
        await stop();
      } catch (err) {
        console.error(`soak: cleanup: ${(err as Error).message}`);
      }
    }
  })();
  return cleaning;
}
/** Last resort on a hard exit: no child outlives the driver. */
const hardKills: Array<() => void> = [];
process.once('exit', () => {
  for (const kill of hardKills) {
    try {
      kill();
    } catch {
      // already gone
    }
  }
});
let stopping = false;
for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  process.once(signal, () => {
    stopping = true;
    say(`soak: ${signal}: stopping everything`);
    void cleanup().finally(() => process.exit(code));
  });
}

// ---- the system under test
const root = mkdtempSync(join(tmpdir(), 'hal-soak-'));
// The agents' spools sync every append (power-cut safety); 100 hosts have 100 disks, this machine
// one: on tmpfs the soak measures the system, not this disk's fsync rate.
const spoolRoot = existsSync('/dev/shm') ? mkdtempSync('/dev/shm/hal-soak-spools-') : join(root, 'spools');
mkdirSync(spoolRoot, { recursive: true });
cleanups.push(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(spoolRoot, { recursive: true, force: true });
});

const quiet = createLogger({ service: 'soak', level: 'silent' });

async function startSupervisor(nats: NatsServer): Promise<{
  child: ChildProcess;
  wsPort: number;
  apiUrl: string;
  tail: string[];
  errors: string[];
  exited: Promise<number | null>;
}> {
  const [wsPort, httpPort] = [await freePort(), await freePort()];
  const file = join(root, 'supervisor.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      data_dir: join(root, 'data'),
      log_level: 'warn',
      nats: { url: nats.url },
      server: { auth_token: TOKEN, host: '127.0.0.1', port: wsPort, http_port: httpPort },
    }),
    { mode: 0o600 },
  );
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  env.HAL_FROM_SOURCE = '1';
  const child = spawn(process.execPath, [SUPERVISOR_BIN, '--config', file], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  hardKills.push(() => child.kill('SIGKILL'));
  const tail: string[] = [];
  const errors: string[] = [];
  const onLine = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (/"level":(50|60)/.test(line)) errors.push(line);
    }
  };
  child.stdout?.on('data', onLine);
  child.stderr?.on('data', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const apiUrl = `http://127.0.0.1:${httpPort}`;
  await waitFor(
    async () => {
      if (child.exitCode !== null)
        throw new Error(`hal-supervisor exited with ${child.exitCode}:\n${tail.join('\n')}`);
      return (
        (await fetch(`${apiUrl}/readyz`, { signal: AbortSignal.timeout(1_000) }).catch(() => undefined))
          ?.status === 200
      );
    },
    { timeoutMs: 90_000, intervalMs: 200, message: 'hal-supervisor ready' },
  );
  return { child, wsPort, apiUrl, tail, errors, exited };
}

/** A TCP pass-through in front of the gateway's WebSocket port that can cut one connection abruptly. */
async function startCuttingTcpProxy(
  targetPort: number,
): Promise<{ port: number; cutRandom(): boolean; stop(): Promise<void> }> {
  const pairs = new Set<[Socket, Socket]>();
  const server = createServer((down) => {
    const up = connect(targetPort, '127.0.0.1');
    const pair: [Socket, Socket] = [down, up];
    pairs.add(pair);
    const end = (): void => {
      pairs.delete(pair);
      down.destroy();
      up.destroy();
    };
    down.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
    down.pipe(up);
    up.pipe(down);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    cutRandom() {
      const all = [...pairs];
      const pair = all[Math.floor(Math.random() * all.length)];
      if (pair === undefined) return false;
      // No close frame, no FIN handshake first: a link that dies, seen from both ends.
      pair[0].resetAndDestroy();
      pair[1].resetAndDestroy();
      return true;
    },
    async stop() {
      for (const [a, b] of pairs) {
        a.destroy();
        b.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let emitted = 0;
const sumOf = (agents: readonly SimAgent[], key: keyof SimAgent['counts']): number =>
  agents.reduce((sum, a) => sum + a.counts[key], 0);

async function startSoakAgent(index: number, wsUrl: string): Promise<SimAgent> {
  return startSimAgent({
    parts: { createConnection, openSpool },
    node: `soak-${index}`,
    urls: wsUrl,
    token: TOKEN,
    project: PROJECT,
    dir: spoolRoot,
    heartbeatIntervalSec: 5,
    sessions: Array.from({ length: SESSIONS_PER_AGENT }, (_, s) => `ses_soak_${index}_${s}`),
    waitReady: false,
  });
}

/** Appends `count` events to `agent` in one spool transaction, round-robin over its sessions. */
function emit(agent: SimAgent, count: number): void {
  const sessions = [...agent.sessions];
  const events: SimEvent[] = [];
  for (let i = 0; i < count; i++) {
    const n = agent.counts.events + i;
    events.push({
      session: sessions[n % sessions.length] ?? null,
      type: n % 2 === 0 ? 'session.busy' : 'session.idle',
      data: { n },
    });
  }
  agent.emitMany(events);
  emitted += count;
}

/** num_pending + num_ack_pending of every durable consumer on HAL_EVENTS, by name. */
async function consumerLag(nc: NatsConnection): Promise<Map<string, number>> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  const lag = new Map<string, number>();
  for await (const ci of jsm.consumers.list(StreamName.EVENTS)) {
    if (ci.config.durable_name === undefined) continue;
    lag.set(ci.name, ci.num_pending + ci.num_ack_pending);
  }
  return lag;
}
const varzSchema = z.looseObject({
  connections: z.number(),
  subscriptions: z.number(),
  slow_consumers: z.number(),
});
const jszSchema = z.looseObject({
  streams: z.number(),
  consumers: z.number(),
  messages: z.number(),
  bytes: z.number(),
});

/**
 * What nats-server holds (its monitoring endpoint, loopback): when its RSS grows, whether it is
 * carrying more of something (connections, subscriptions, consumers: a leak of ours) or only a
 * longer stream (its store's own bookkeeping).
 */
async function natsHolds(monitorUrl: string, who = 'nats-server'): Promise<string> {
  try {
    const get = async (path: string) =>
      (await fetch(`${monitorUrl}${path}`, { signal: AbortSignal.timeout(2_000) })).json();
    const v = varzSchema.parse(await get('/varz'));
    const j = jszSchema.parse(await get('/jsz'));
    return (
      `${who} holds: ${v.connections} connections, ${v.subscriptions} subscriptions, ` +
      `${j.streams} streams, ${j.consumers} consumers, ${j.messages} messages (${mib(j.bytes / 1024)}), ` +
      `slow consumers ${v.slow_consumers}`
    );
  } catch (err) {
    return `${who} monitoring unreadable: ${(err as Error).message}`;
  }
}

/** The raw control's processes: measured and printed, never judged. */
const RAW_CONTROL: ReadonlySet<string> = new Set(['nats-control', 'control-client']);

interface ControlCounts {
  /** Messages in the control's HAL_EVENTS. */
  stored: number;
  relayed: number;
  failed: number;
  inFlight: number;
  acked: number;
}

/**
 * The building block nats-server's RSS is judged against: a second, plain nats-server with
 * HAL_EVENTS' stream config and durable consumers copied from the system's own (file store, same
 * limits and duplicate window), fed every message published on the events subjects — a core tap
 * on the system's server, so the same subjects, payloads, `Nats-Msg-Id`s and resends, at the
 * same moments — by a raw JetStream publisher, and drained by raw consumers that ack each message.
 * What its RSS does over the run is what a file store with that traffic does on its own. The
 * tap, publisher and consumers run in a process of their own (bench/scale/child.ts
 * `raw-control`), so the driver's memory stays the driver's.
 */
async function startRawControl(
  system: NatsServer,
  monitorPort: number,
): Promise<{
  nats: NatsServer;
  client: BenchChild<{ consumers: number }>;
  counts(): Promise<ControlCounts>;
}> {
  const nats = await startNats({ storeDir: join(root, 'nats-control'), args: ['-m', String(monitorPort)] });
  cleanups.push(() => nats.stop());
  hardKills.push(() => nats.kill('SIGKILL'));
  const client = await startChild<{ consumers: number }>(
    { defer: (stop) => cleanups.push(async () => void (await stop())) },
    'raw-control',
    { systemUrl: system.url, controlUrl: nats.url },
  );
  return { nats, client, counts: () => client.call<ControlCounts>('counts', undefined, 5_000) };
}
const total = (lag: Map<string, number>): number => [...lag.values()].reduce((a, b) => a + b, 0);
/** `12 {"inject 503 NODE_OFFLINE":12}`, or `0`. */
const tally = (counts: Map<string, number>): string => {
  const n = [...counts.values()].reduce((a, b) => a + b, 0);
  return n === 0 ? '0' : `${n} ${JSON.stringify(Object.fromEntries(counts))}`;
};

/**
 * Command latencies in fixed memory, however long the run: whole-run percentiles from 1-ms buckets
 * (up to the call's 15 s timeout), and the current minute's samples, dropped each minute.
 */
function createLatencyHistogram() {
  const buckets = new Uint32Array(15_001);
  let count = 0;
  let thisMinute: number[] = [];
  return {
    add(ms: number): void {
      buckets[Math.min(buckets.length - 1, Math.round(ms))]! += 1;
      count += 1;
      thisMinute.push(ms);
    },
    /** Nearest-rank percentile of every sample so far. */
    overall(q: number): number {
      const rank = Math.max(1, Math.ceil((q / 100) * count));
      let seen = 0;
      for (let ms = 0; ms < buckets.length; ms++) {
        seen += buckets[ms] ?? 0;
        if (seen >= rank) return ms;
      }
      return 0;
    },
    /** p50 and p99 of the samples since the previous call, which starts a new minute. */
    minute(): { p50: number; p99: number } {
      const v = thisMinute;
      thisMinute = [];
      return v.length === 0 ? { p50: 0, p99: 0 } : { p50: percentile(v, 50), p99: percentile(v, 99) };
    },
  };
}

/** The status of an API call and, when it failed, the error code of its body. */
async function api(
  apiUrl: string,
  path: string,
  post?: Record<string, unknown>,
): Promise<{ status: number; code?: string }> {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` };
  const res = await fetch(`${apiUrl}${path}`, {
    ...(post === undefined
      ? { headers }
      : {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify(post),
        }),
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  if (res.ok) return { status: res.status };
  const code = /"code":"([A-Z_]+)"/.exec(text)?.[1];
  return code === undefined ? { status: res.status } : { status: res.status, code };
}

/**
 * Codes an API command gets when its node's link is cut under it — the soak cuts one about every
 * 0.6 s: not connected (NODE_OFFLINE), or cut after the command went out (COMMAND_OUTCOME_UNKNOWN).
 * Counted apart from real failures.
 */
const CUT_CODES: ReadonlySet<string> = new Set(['NODE_OFFLINE', 'COMMAND_OUTCOME_UNKNOWN']);

/**
 * The least-squares line through one process's RSS samples in (from, to]: its value at `from` and
 * at `to`, with the samples' min and max; undefined when a sample is missing (the process died).
 */
function trend(
  samples: readonly Sample[],
  name: string,
  from: number,
  to: number,
): { from: number; to: number; min: number; max: number } | undefined {
  const points = samples.filter((s) => s.at > from && s.at <= to).map((s) => [s.at, s.rss[name]] as const);
  if (points.length < 2 || points.some(([, kb]) => kb === undefined)) return undefined;
  const n = points.length;
  const mx = points.reduce((a, [x]) => a + x, 0) / n;
  const my = points.reduce((a, [, y]) => a + (y ?? 0), 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const [x, y] of points) {
    sxy += (x - mx) * ((y ?? 0) - my);
    sxx += (x - mx) ** 2;
  }
  const slope = sxx === 0 ? 0 : sxy / sxx;
  const ys = points.map(([, y]) => y ?? 0);
  return {
    from: my + slope * (from - mx),
    to: my + slope * (to - mx),
    min: Math.min(...ys),
    max: Math.max(...ys),
  };
}

const fmt = (kb: number | undefined): string => (kb === undefined ? '—' : mib(kb));
const pct = (fraction: number): string => `${fraction >= 0 ? '+' : ''}${(fraction * 100).toFixed(1)} %`;

/** Every 5-second RSS sample, for a look at the curve: bench/out/soak-rss.json. */
function writeSamples(samples: readonly Sample[]): void {
  const out = fileURLToPath(new URL('./out/', import.meta.url));
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'soak-rss.json'), `${JSON.stringify(samples)}\n`);
}

interface Sample {
  at: number;
  rss: Record<string, number | undefined>;
}

async function main(): Promise<number> {
  const durationMs = flags.minutes * 60_000;
  const warmupMs = Math.max(60_000, 0.2 * durationMs);
  say(
    `soak: ${flags.minutes} min, ${flags.agents} agents, ${flags.rate} events/s; warm-up ${Math.round(warmupMs / 1000)} s`,
  );

  // Its monitoring port (loopback) says what it holds each minute.
  const monitorPort = await freePort();
  const nats = await startNats({ storeDir: join(root, 'nats'), args: ['-m', String(monitorPort)] });
  cleanups.push(() => nats.stop());
  hardKills.push(() => nats.kill('SIGKILL'));
  const supervisor = await startSupervisor(nats);
  cleanups.push(async () => {
    if (supervisor.child.exitCode !== null || supervisor.child.signalCode !== null) return;
    supervisor.child.kill('SIGTERM');
    const force = setTimeout(() => supervisor.child.kill('SIGKILL'), 15_000);
    await supervisor.exited;
    clearTimeout(force);
  });
  let supervisorDied: string | undefined;
  void supervisor.exited.then((code) => {
    if (!stopping)
      supervisorDied = `hal-supervisor exited (code ${code}) during the run:\n${supervisor.tail.join('\n')}`;
  });
  const nc = await connectBus({ url: nats.url, name: 'soak', log: quiet });
  cleanups.push(() => nc.close());
  // nats-server remembers every event id of HAL_EVENTS' duplicate window (2 min by default) for
  // dedupe: at `--rate` events/s its heap grows until the window is full, and Go's collector lets
  // the heap reach twice the live set before it collects. Its RSS is judged from when that is
  // bounded, not from the general warm-up, which would count a filling window as a leak.
  const duplicateWindowMs =
    (await (await jetstreamClient(nc).jetstreamManager()).streams.info(StreamName.EVENTS)).config
      .duplicate_window / 1e6;
  const natsWarmupMs = Math.max(warmupMs, duplicateWindowMs + NATS_HEAP_SETTLE_MS);
  const warmupOf: Record<string, number> = {
    supervisor: warmupMs,
    'nats-server': natsWarmupMs,
    'nats-control': natsWarmupMs,
    driver: warmupMs,
  };
  say(
    `soak: nats-server's RSS judged from ${Math.round((warmupOf['nats-server'] ?? 0) / 1000)} s ` +
      `(HAL_EVENTS duplicate window ${Math.round(duplicateWindowMs / 1000)} s + ${NATS_HEAP_SETTLE_MS / 1000} s)`,
  );
  const proxy = await startCuttingTcpProxy(supervisor.wsPort);
  cleanups.push(() => proxy.stop());

  const agents: SimAgent[] = [];
  cleanups.push(async () => {
    await Promise.all(agents.map((a) => a.stop()));
  });
  for (let i = 0; i < flags.agents && !stopping; i++) {
    agents.push(await startSoakAgent(i, `ws://127.0.0.1:${proxy.port}`));
  }
  await waitFor(() => agents.every((a) => a.connection.ready()), {
    timeoutMs: 60_000,
    message: 'every agent welcomed',
  });
  const [first] = agents;
  if (first === undefined) throw new Error('no agent');
  await waitFor(
    async () => (await api(supervisor.apiUrl, `/api/v1/sessions/${[...first.sessions][0]}`)).status === 200,
    {
      timeoutMs: 60_000,
      intervalMs: 200,
      message: 'the tracker knows the first session',
    },
  );
  // Started once the system's durable consumers exist (the tracker answered), to copy them.
  const controlMonitorPort = await freePort();
  const control = await startRawControl(nats, controlMonitorPort);
  say(
    `soak: supervisor pid ${supervisor.child.pid}, nats-server pid ${nats.pid}, raw control: nats-server pid ${control.nats.pid}, ` +
      `client pid ${control.client.pid}; driver pid ${process.pid}; ${agents.length} agents welcomed`,
  );

  const pids: Record<string, number> = {
    supervisor: supervisor.child.pid ?? -1,
    'nats-server': nats.pid,
    'nats-control': control.nats.pid,
    'control-client': control.client.pid,
    driver: process.pid,
  };
  const samples: Sample[] = [];
  const lagByMinute: number[] = [];
  const latency = createLatencyHistogram();
  const commandFailures = new Map<string, number>();
  /** Calls that failed because the soak had just cut their node's link (CUT_CODES, or cut during the call). */
  const commandsCut = new Map<string, number>();
  let commandsOk = 0;
  let cuts = 0;
  const start = Date.now();
  const welcomesAtStart = sumOf(agents, 'welcomes');

  // Load: events on a drift-free schedule, round-robin over the agents.
  let cursor = 0;
  const emitter = setInterval(() => {
    const due = Math.floor(((Date.now() - start) * flags.rate) / 1000) - emitted;
    if (due <= 0) return;
    const share = new Map<SimAgent, number>();
    for (let i = 0; i < due; i++) {
      const agent = agents[cursor++ % agents.length];
      if (agent !== undefined) share.set(agent, (share.get(agent) ?? 0) + 1);
    }
    for (const [agent, count] of share) emit(agent, count);
  }, TICK_MS);
  const cutter = setInterval(() => {
    for (let i = 0; i < agents.length; i++)
      if (Math.random() < CUT_PER_SECOND && proxy.cutRandom()) cuts += 1;
  }, 1_000);
  let inFlight = 0;
  let flip = 0;
  const commander = setInterval(() => {
    if (inFlight >= COMMANDS_IN_FLIGHT) return;
    const agent = agents[Math.floor(Math.random() * agents.length)];
    if (agent === undefined) return;
    const sessions = [...agent.sessions];
    const session = sessions[Math.floor(Math.random() * sessions.length)];
    flip += 1;
    const [what, call] =
      flip % 2 === 0
        ? [
            'inject',
            () =>
              api(supervisor.apiUrl, `/api/v1/sessions/${session}/inject`, {
                prompt: 'soak',
                timeout_ms: 5_000,
              }),
          ]
        : ['node', () => api(supervisor.apiUrl, `/api/v1/nodes/${agent.node}`)];
    inFlight += 1;
    const t0 = performance.now();
    const welcomes = agent.counts.welcomes;
    // Its link was cut during the call: not connected now, or welcomed again since it began.
    const wasCut = (): boolean => !agent.connection.ready() || agent.counts.welcomes !== welcomes;
    const count = (into: Map<string, number>, key: string): void => {
      into.set(key, (into.get(key) ?? 0) + 1);
    };
    call()
      .then(({ status, code }) => {
        if (status === 200) {
          commandsOk += 1;
          latency.add(performance.now() - t0);
          return;
        }
        const key = `${what} ${status}${code === undefined ? '' : ` ${code}`}`;
        count((code !== undefined && CUT_CODES.has(code)) || wasCut() ? commandsCut : commandFailures, key);
      })
      .catch((err: Error) => {
        count(wasCut() ? commandsCut : commandFailures, `${what} ${err.name}`);
      })
      .finally(() => {
        inFlight -= 1;
      });
  }, COMMAND_EVERY_MS);
  cleanups.push(() => {
    clearInterval(emitter);
    clearInterval(cutter);
    clearInterval(commander);
  });

  const sample = (): Sample => {
    const s: Sample = { at: Date.now() - start, rss: {} };
    for (const [name, pid] of Object.entries(pids)) s.rss[name] = rssKb(pid);
    samples.push(s);
    return s;
  };
  let minute = 0;
  let lastEmitted = 0;
  while (Date.now() - start < durationMs && !stopping && supervisorDied === undefined) {
    const nextSample = Math.min(durationMs, (Math.floor((Date.now() - start) / SAMPLE_MS) + 1) * SAMPLE_MS);
    await new Promise((r) => setTimeout(r, Math.max(0, nextSample - (Date.now() - start))));
    const s = sample();
    if (s.at >= (minute + 1) * 60_000 - 500 || s.at >= durationMs) {
      minute += 1;
      const lag = await consumerLag(nc).catch(() => new Map<string, number>());
      lagByMinute.push(total(lag));
      const perSecond = Math.round((emitted - lastEmitted) / 60);
      lastEmitted = emitted;
      for (const [name, pid] of Object.entries(pids)) {
        const kb = s.rss[name];
        // Anonymous memory apart: heap and buffers, without the file pages a process maps.
        const anon = rssKb(pid, 'RssAnon');
        say(
          `[min ${minute}] ${name.padEnd(11)} pid ${pid}  rss ${kb === undefined ? 'gone' : mib(kb)}${anon === undefined ? '' : ` (anon ${mib(anon)})`}`,
        );
      }
      say(`[min ${minute}] ${await natsHolds(`http://127.0.0.1:${monitorPort}`)}`);
      const c = await control
        .counts()
        .catch(() => ({ stored: '?', relayed: '?', failed: '?', inFlight: '?', acked: '?' }));
      say(
        `[min ${minute}] ${await natsHolds(`http://127.0.0.1:${controlMonitorPort}`, 'nats-control')}; ` +
          `relayed ${c.relayed} (in flight ${c.inFlight}, failed ${c.failed}), acked ${c.acked}`,
      );
      const lagText = [...lag].map(([name, n]) => `${name} ${n}`).join(', ');
      const minuteMs = latency.minute();
      say(
        `[min ${minute}] lag ${total(lag)} (${lagText})  events ${emitted} (${perSecond}/s)  ` +
          `spooled ${agents.reduce((a, b) => a + b.spool.depth(), 0)}  cuts ${cuts}  reconnects ${sumOf(agents, 'welcomes') - welcomesAtStart} (refused ${sumOf(agents, 'refusals')})  ` +
          `commands ${commandsOk} ok (this minute p50 ${minuteMs.p50.toFixed(0)} ms, p99 ${minuteMs.p99.toFixed(0)} ms), ` +
          `${tally(commandsCut)} node cut, ${tally(commandFailures)} failed`,
      );
    }
  }
  clearInterval(emitter);
  clearInterval(cutter);
  clearInterval(commander);
  if (stopping) return 130;

  const problems: string[] = [];
  if (supervisorDied !== undefined) problems.push(supervisorDied);

  // The backlog drains once the load stops: every spool empty, every consumer caught up.
  const drainStart = Date.now();
  let drained = false;
  if (supervisorDied === undefined) {
    try {
      await waitFor(
        async () =>
          agents.every((a) => a.spool.depth() === 0) && inFlight === 0 && total(await consumerLag(nc)) === 0,
        { timeoutMs: DRAIN_TIMEOUT_MS, intervalMs: 500, message: 'drained' },
      );
      drained = true;
    } catch {
      const lag = await consumerLag(nc).catch(() => new Map<string, number>());
      problems.push(
        `backlog not drained ${DRAIN_TIMEOUT_MS / 1000} s after the load stopped: ` +
          `spooled ${agents.reduce((a, b) => a + b.spool.depth(), 0)}, lag ${JSON.stringify(Object.fromEntries(lag))}`,
      );
    }
  }
  const drainMs = Date.now() - drainStart;

  // RSS growth is the least-squares line through every sample after warm-up, from its value at
  // the end of warm-up to its value at the end. A collected heap's RSS is a sawtooth (the
  // supervisor's swung 247–318 MiB in a 10-minute run): two short windows land on whatever phase
  // of it they meet, the line through the whole stretch does not, and a leak still tilts it.
  const endAt = samples.at(-1)?.at ?? 0;
  const rssSummary: string[] = [];
  for (const name of Object.keys(pids)) {
    const warmup = warmupOf[name] ?? warmupMs;
    const judged = endAt - warmup >= 60_000;
    const mean = (from: number, to: number): number | undefined => {
      const v = samples.filter((s) => s.at > from && s.at <= to).map((s) => s.rss[name]);
      if (v.length === 0 || v.some((x) => x === undefined)) return undefined;
      return (v as number[]).reduce((a, b) => a + b, 0) / v.length;
    };
    const windows = `window means ${fmt(mean(warmup - RSS_WINDOW_MS, warmup))} → ${fmt(mean(endAt - RSS_WINDOW_MS, endAt))}`;
    if (!judged) {
      // Still said, so that growth is never hidden: from the general warm-up on.
      const line = trend(samples, name, warmupMs, endAt);
      const grew =
        line === undefined ? '' : `, ${mib(line.from)} → ${mib(line.to)} since ${warmupMs / 1000} s`;
      rssSummary.push(
        `${name} not judged (warm-up ${Math.round(warmup / 1000)} s: the run ends less than a minute past it${grew})`,
      );
      continue;
    }
    const line = trend(samples, name, warmup, endAt);
    if (line === undefined) {
      problems.push(`${name}: RSS not measured (process gone?)`);
      continue;
    }
    const growth = line.to / line.from - 1;
    rssSummary.push(
      `${name}${RAW_CONTROL.has(name) ? ' (raw control, not judged)' : ''} ${mib(line.from)} → ${mib(line.to)} ` +
        `(${pct(growth)} by the trend from ${Math.round(warmup / 1000)} s; min ${mib(line.min)}, max ${mib(line.max)}; ${windows})`,
    );
    if (RAW_CONTROL.has(name)) continue;
    if (name !== 'nats-server') {
      if (growth > RSS_GROWTH_LIMIT) {
        problems.push(
          `${name}: RSS grew ${pct(growth)} after warm-up by its trend (${mib(line.from)} → ${mib(line.to)}; limit ${RSS_GROWTH_LIMIT * 100} %)`,
        );
      }
      continue;
    }
    // nats-server: only what it grew beyond the raw control, which carried the same messages
    // over the same stretch, is ours (a file store's own growth with its stream is not a leak).
    const controlLine = trend(samples, 'nats-control', warmup, endAt);
    if (controlLine === undefined) {
      problems.push('nats-control: RSS not measured (process gone?), so nats-server cannot be judged');
      continue;
    }
    const excess = (line.to - line.from - (controlLine.to - controlLine.from)) / line.from;
    rssSummary.push(
      `nats-server beyond the raw control: ${pct(excess)} (${mib(line.to - line.from)} against ${mib(controlLine.to - controlLine.from)}; limit ${RSS_GROWTH_LIMIT * 100} %)`,
    );
    if (excess > RSS_GROWTH_LIMIT) {
      problems.push(
        `nats-server: RSS grew ${pct(excess)} after warm-up beyond the raw control's growth ` +
          `(${mib(line.to - line.from)} against ${mib(controlLine.to - controlLine.from)}, of ${mib(line.from)}; limit ${RSS_GROWTH_LIMIT * 100} %)`,
      );
    }
  }
  writeSamples(samples);
  // Lag that keeps growing: up at every minute after warm-up, and by the end more than a second of load.
  const afterWarmup = lagByMinute.slice(Math.floor(warmupMs / 60_000) - 1);
  const growing =
    afterWarmup.length >= 2 && afterWarmup.every((v, i) => i === 0 || v > (afterWarmup[i - 1] ?? 0));
  if (growing && (afterWarmup.at(-1) ?? 0) > flags.rate) {
    problems.push(`consumer lag kept growing after warm-up: ${afterWarmup.join(' → ')}`);
  }
  if (commandsOk === 0) problems.push('no command succeeded');
  const failed = [...commandFailures.values()].reduce((a, b) => a + b, 0);
  if (failed > commandsOk * COMMAND_FAILURE_LIMIT) {
    problems.push(
      `${failed} API calls failed with their node connected (limit ${COMMAND_FAILURE_LIMIT * 100} % of ${commandsOk} ok): ${JSON.stringify(Object.fromEntries(commandFailures))}`,
    );
  }
  if (supervisor.errors.length > 0) {
    say(`soak: hal-supervisor logged ${supervisor.errors.length} error(s); first: ${supervisor.errors[0]}`);
  }

  say(
    `soak: ${emitted} events in ${Math.round(endAt / 1000)} s, ${cuts} cuts, ${sumOf(agents, 'welcomes') - welcomesAtStart} reconnects, ` +
      `${commandsOk} API calls ok (p50 ${latency.overall(50).toFixed(0)} ms, p99 ${latency.overall(99).toFixed(0)} ms; ` +
      `${sumOf(agents, 'commands')} commands run by agents), ${tally(commandsCut)} refused as their node was cut, ${tally(commandFailures)} failed; ` +
      `lag per minute ${lagByMinute.join(', ')}; ${drained ? `drained in ${(drainMs / 1000).toFixed(1)} s` : 'not drained'}`,
  );
  const c = await control.counts();
  const stored = await jetstreamClient(nc)
    .jetstreamManager()
    .then((jsm) => jsm.streams.info(StreamName.EVENTS))
    .then(
      (info) => String(info.state.messages),
      () => '?',
    );
  say(
    `soak: HAL_EVENTS holds ${stored} messages, the raw control's ${c.stored} ` +
      `(relayed ${c.relayed}, failed ${c.failed}, acked by its ${control.client.ready.consumers} consumers ${c.acked})`,
  );
  say(`soak: RSS after warm-up → end: ${rssSummary.join('; ')}`);
  if (problems.length > 0) {
    for (const p of problems) console.error(`soak: FAIL: ${p}`);
    return 1;
  }
  say('soak: OK');
  return 0;
}

let code = 1;
try {
  code = await main();
} catch (err) {
  console.error(`soak: FAIL: ${(err as Error).stack ?? String(err)}`);
  code = 1;
} finally {
  stopping = true;
  await cleanup();
}
process.exit(code);

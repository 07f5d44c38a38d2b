import { hostname } from 'node:os';
import { join } from 'node:path';
import { createRateLimitedLog, type Logger } from '@hal/observability';
import { EventType } from '@hal/protocol';
import { isMutating, openCommandMemory } from './command-memory.ts';
import { createCommandRunner, withDeadline } from './commands.ts';
import { type Connection, createConnection } from './connection.ts';
import { createContextTasks } from './context-task.ts';
import { createDeadlines } from './deadlines.ts';
import { createEnvModule, type EnvSettings } from './env/env-module.ts';
import { fitEventData } from './event-fit.ts';
import { createHandOffRunner } from './hand-off.ts';
import { collectHostStats } from './host-stats.ts';
import { loadInstanceId } from './instance-id.ts';
import { resolveOpencodeBinary } from './opencode-binary.ts';
import { createOpencodeClient } from './opencode-client.ts';
import { createOpencodeEvents, type ProjectEvent, type ProjectRef } from './opencode-events.ts';
import { createOpencodeHealth } from './opencode-health.ts';
import { createOpencodeProcess, type OpencodeProcess } from './opencode-process.ts';
import { openRecoveryMemory, type SeenMarks } from './recovery-memory.ts';
import { createSessionRegistry } from './session-registry.ts';
import { type EventDraft, openSpool, type Spool, type SpooledEvent } from './spool.ts';

export const AGENT_VERSION = '0.1.0';
/** Outcomes are kept 24 h; an hourly sweep keeps the table near that size. */
const PRUNE_INTERVAL_MS = 3600 * 1000;

/** The config keys the agent reads (a subset of @hal/config's AgentConfig, so that type fits). */
export interface AgentSettings {
  node_id: string;
  /** One gateway URL, or several tried in turn (see ConnectionDeps.url). */
  supervisor_url: string | readonly string[];
  auth_token: string;
  opencode_port: number;
  opencode: { url: string; manage: boolean; binary: string; password?: string };
  projects: readonly ProjectRef[];
  data_dir: string;
  heartbeat_interval_sec: number;
  spool: { max_bytes: number };
  reconnect: { initial_ms: number; max_ms: number };
  command_timeout_ms: number;
  /** Absent: the config defaults (no privileged helper, no opencode env file). */
  env?: EnvSettings;
}

const DEFAULT_ENV_SETTINGS: EnvSettings = {
  probe_timeout_ms: 10_000,
  install_timeout_ms: 600_000,
  progress_poll_ms: 2_000,
};

export interface AgentDeps {
  config: AgentSettings;
  log: Logger;
  clock?: { now(): number };
  /** How often command deadlines are checked against the clock (default 50 ms; tests with a FakeClock call tick()). */
  deadlineCheckMs?: number;
  random?: () => number;
  /** opencode SSE re-subscribe backoff (tests shorten it). */
  sseBackoff?: { initialMs: number; maxMs: number };
  /** Longest wait for opencode to answer the SSE request before retrying (default 10 s). */
  sseOpenTimeoutMs?: number;
  /** Deadline of the health check behind the heartbeat's `opencode_ok` (default 5 s). */
  healthTimeoutMs?: number;
  /**
   * Longest wait, at start and for commands, for the first opencode subscription + reconcile
   * (default 10 s). Only a hung opencode makes it matter: a refused connection ends it at once.
   */
  firstSyncTimeoutMs?: number;
  /** The environment env checks see (PATH, env vars); default process.env. Tests pass shims. */
  hostEnv?: Readonly<Record<string, string | undefined>>;
}

export interface Agent {
  start(): Promise<void>;
  /** Closes the socket and the SSE stream; the spool stays on disk and opencode keeps running. */
  stop(): Promise<void>;
  /** For tests and the supervisor's status: the spool and the live connection. */
  readonly spool: Spool;
  connection(): Connection | undefined;
  /** Answers TIMEOUT for every command past its deadline by the clock now, and ends hand-off idle waits past their bound (the timer does the same). */
  tick(): void;
}

/** Wires opencode → mapper → spool → WebSocket, and gateway commands → opencode. */
export function createAgent(deps: AgentDeps): Agent {
  const { config, log } = deps;
  const limited = createRateLimitedLog(log);
  const now = () => new Date((deps.clock ?? Date).now()).toISOString();
  const node = config.node_id;
  const draft = (
    project: string,
    session: string | null,
    type: string,
    data: Record<string, unknown>,
    refs?: EventDraft['refs'],
  ): EventDraft => {
    const d: EventDraft = {
      version: 1,
      id: crypto.randomUUID(),
      node,
      project,
      session,
      type,
      time: now(),
      data,
    };
    if (refs !== undefined) d.refs = refs;
    // Every record must fit the gateway's limits, or it would block the stream behind it: large
    // or deep fields are clipped here with a visible marker. `seq` is not known yet: its widest
    // form is counted in the overhead.
    const overhead = Buffer.byteLength(JSON.stringify({ ...d, data: {}, seq: Number.MAX_SAFE_INTEGER }));
    const fitted = fitEventData(data, overhead - 2);
    if (fitted.clipped) {
      d.data = fitted.data;
      limited.warn('clipped', { type, session }, 'event fields clipped to fit the protocol limits');
    }
    return d;
  };

  const spool = openSpool({
    file: join(config.data_dir, 'spool.db'),
    maxBytes: config.spool.max_bytes,
    overflowDraft: (data) => draft('', null, EventType.AGENT_SPOOL_OVERFLOW, data),
    log,
  });
  // Marks that let the next agent process report turns that end while this one is down.
  const memory = openRecoveryMemory(spool.sqlite);
  // Outcomes of mutating commands by idempotency key, in the same file: a retry never runs twice.
  const commandMemory = openCommandMemory(spool.sqlite, () => (deps.clock ?? Date).now());
  const registry = createSessionRegistry();
  const client = createOpencodeClient({ url: config.opencode.url, password: config.opencode.password });
  const deadlines = createDeadlines(deps.clock ?? Date, deps.deadlineCheckMs ?? 50);
  const handOffs = createHandOffRunner({
    client,
    log: log.child({ component: 'hand-off' }),
    emit: (evts) => emit(evts),
    now: () => (deps.clock ?? Date).now(),
    deadlines,
  });
  const contextTasks = createContextTasks({
    projects: config.projects,
    log: log.child({ component: 'context-task' }),
    emit: (evts) => emit(evts),
  });
  let connection: Connection | undefined;
  let opencodeUp: boolean | undefined;
  const health = createOpencodeHealth({
    check: (timeoutMs) => client.health(timeoutMs),
    timeoutMs: deps.healthTimeoutMs ?? 5_000,
  });

  /**
   * The single entry of events: registry first (snapshot truth), then the spool with the recovery
   * marks in one transaction (a mark never gets ahead of its events), then the socket.
   */
  const spoolWithMarks = spool.sqlite.transaction((drafts: EventDraft[], marks: SeenMarks | undefined) => {
    spool.append(drafts);
    memory.record(drafts, marks);
  });
  function emit(events: ProjectEvent[], marks?: SeenMarks): void {
    const drafts = events.map((e) => draft(e.project, e.session, e.type, e.data, e.refs));
    for (const d of drafts) registry.apply(d);
    spoolWithMarks(drafts, marks);
    // After the spool: a hand-off woken by an idle emits its next events behind this one.
    for (const d of drafts) {
      handOffs.observe(d);
      contextTasks.observe(d);
    }
    if (drafts.length > 0) connection?.notify();
  }

  /** A spooled record too large to send: dropped, and the drop is itself an event (never silent). */
  function dropUnsendable(row: SpooledEvent, limitBytes: number): void {
    let type = 'unknown';
    try {
      const parsed = JSON.parse(row.json) as { type?: unknown };
      if (typeof parsed.type === 'string') type = parsed.type;
    } catch {
      // A damaged row is dropped all the same.
    }
    limited.warn(
      'dropped',
      { seq: row.seq, bytes: row.bytes, type },
      'spooled event too large to send, dropped',
    );
    spool.drop(row.seq);
    spoolWithMarks(
      [
        draft('', null, EventType.AGENT_EVENT_DROPPED, {
          seq: row.seq,
          bytes: row.bytes,
          limit_bytes: limitBytes,
          event_type: type,
          reason: 'larger than the protocol allows',
        }),
      ],
      undefined,
    );
  }

  function reachable(up: boolean): void {
    health.set(up);
    if (up === opencodeUp) return;
    // The first "up" at start is not news; a first "down" is.
    const first = opencodeUp === undefined;
    opencodeUp = up;
    if (first && up) return;
    const type = up ? EventType.AGENT_OPENCODE_UP : EventType.AGENT_OPENCODE_DOWN;
    log[up ? 'info' : 'warn'](
      { url: config.opencode.url },
      up ? 'opencode reachable' : 'opencode unreachable',
    );
    emit([{ project: '', session: null, type, data: { url: config.opencode.url }, refs: {} }]);
  }

  const events = createOpencodeEvents({
    client,
    projects: config.projects,
    registry,
    log: log.child({ component: 'opencode-events' }),
    emit,
    // Compared with opencode's own timestamps, so the wall clock, not the injected one.
    restored: memory.restore(Date.now()),
    onReachable: reachable,
    backoff: deps.sseBackoff,
    openTimeoutMs: deps.sseOpenTimeoutMs,
    random: deps.random,
  });
  const env = createEnvModule({
    node,
    projects: config.projects,
    dataDir: config.data_dir,
    settings: config.env ?? DEFAULT_ENV_SETTINGS,
    log: log.child({ component: 'env' }),
    emit: (evts) => emit(evts),
    ...(deps.hostEnv === undefined ? {} : { env: deps.hostEnv }),
    now: () => new Date((deps.clock ?? Date).now()),
  });
  const commands = createCommandRunner({
    client,
    projects: config.projects,
    registry,
    log: log.child({ component: 'commands' }),
    defaultTimeoutMs: config.command_timeout_ms,
    deadlines,
    env,
    handOffs,
  });
  let process: OpencodeProcess | undefined;
  let synced: Promise<void> | undefined;
  let pruneTimer: NodeJS.Timeout | undefined;

  function pruneCommandMemory(): void {
    try {
      const removed = commandMemory.prune();
      if (removed > 0) log.info({ removed }, 'old command outcomes forgotten');
    } catch (err) {
      log.warn({ err }, 'command outcomes not pruned');
    }
  }

  /**
   * The first subscription + reconcile, bounded. Until it is live a session created by a command
   * could have its session.created published by opencode to nobody, and it would never be stored.
   */
  function firstSync(): Promise<void> {
    synced ??= new Promise<void>((resolve) => {
      const limitMs = deps.firstSyncTimeoutMs ?? 10_000;
      const timer = setTimeout(() => {
        log.warn({ timeout_ms: limitMs }, 'opencode not synced in time, serving commands anyway');
        resolve();
      }, limitMs);
      void events.firstSync().then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    return synced;
  }

  return {
    spool,
    connection: () => connection,
    tick: () => deadlines.check(),
    async start() {
      if (config.opencode.manage) {
        process = createOpencodeProcess({
          binary: resolveOpencodeBinary(config.opencode.binary),
          port: config.opencode_port,
          cwd: config.projects[0]?.directory ?? config.data_dir,
          logFile: join(config.data_dir, 'opencode.log'),
          password: config.opencode.password,
          // The model must never read the agent's credential from its own environment.
          secrets: [config.auth_token],
          log: log.child({ component: 'opencode-process' }),
          onState: reachable,
          health: () => client.health(),
        });
        await process.start();
      }
      pruneCommandMemory();
      pruneTimer = setInterval(pruneCommandMemory, PRUNE_INTERVAL_MS);
      pruneTimer.unref();
      connection = createConnection({
        url: config.supervisor_url,
        token: config.auth_token,
        node,
        instanceId: loadInstanceId(config.data_dir),
        host: hostname(),
        agentVersion: AGENT_VERSION,
        projects: config.projects,
        spool,
        log: log.child({ component: 'connection' }),
        reconnect: { initialMs: config.reconnect.initial_ms, maxMs: config.reconnect.max_ms },
        heartbeatIntervalSec: config.heartbeat_interval_sec,
        snapshot: () => registry.snapshot(),
        heartbeat: () => {
          // Sent on the timer with the last known answer; the check runs beside it, bounded.
          void health.refresh();
          return collectHostStats({
            dataDir: config.data_dir,
            opencodeOk: () => health.current(),
            sessions: () => registry.count(),
            spoolDepth: () => spool.depth(),
          });
        },
        onUnsendable: dropUnsendable,
        runCommand: async (cmd, timeoutMs, from) => {
          const key = from.idempotencyKey;
          if (key === undefined || !isMutating(cmd)) {
            await firstSync();
            return commands.run(cmd, timeoutMs);
          }
          await firstSync();
          // The memory keeps the real outcome even when the answer is a TIMEOUT (the work goes on).
          const work = commandMemory.once(key, cmd, from.actor, () => commands.execute(cmd));
          return withDeadline(work, cmd, commands.deadlineOf(cmd, timeoutMs), deadlines);
        },
        random: deps.random,
      });
      await events.start();
      env.start();
      // The snapshot sent on welcome should hold every session, and the first command should not
      // race the subscription: connect once opencode is synced (or known down, or the bound passed).
      await Promise.all([firstSync(), health.refresh()]);
      await connection.start();
    },
    async stop() {
      // Socket first so no command starts against a half-stopped agent; the spool closes last
      // because the SSE loop may still append while it winds down. Sessions are never aborted.
      await connection?.stop();
      // A hand-off still waiting ends as handoff.failed (spooled, sent on the next start); the
      // session it was about to stop keeps running.
      await handOffs.stop();
      env.stop();
      clearInterval(pruneTimer);
      deadlines.stop();
      await events.stop();
      await process?.stop();
      spool.close();
    },
  };
}

// A host's agent without opencode, for tests and the soak that need many hosts: the agent's real
// connection and spool code over the real WebSocket protocol, with events appended by the caller.
// The connection and spool come from @hal/agent and are passed in (`parts`): @hal/agent's own tests
// use testkit, so testkit cannot import it. The types below are the part of @hal/agent used here.
import { join } from 'node:path';
import { createLogger, type Logger } from '@hal/observability';
import {
  type Command,
  type EventRecord,
  type HeartbeatPayload,
  okReply,
  type Reply,
  type SessionSnapshot,
} from '@hal/protocol';
import { waitFor } from './wait-for.ts';

type EventDraft = Omit<EventRecord, 'seq'>;

interface SimSpool {
  append(drafts: readonly EventDraft[]): EventRecord[];
  drop(seq: number): void;
  depth(): number;
  close(): void;
}

interface SimConnection {
  start(): Promise<void>;
  stop(): Promise<void>;
  notify(): void;
  ready(): boolean;
}

type Overflow = { dropped: number; oldest_dropped_seq: number; newest_dropped_seq: number };

/** What the simulated agent gives the real connection (a subset of @hal/agent's ConnectionDeps). */
interface SimConnectionDeps {
  url: string | readonly string[];
  projects: ReadonlyArray<{ name: string; directory: string }>;
  node: string;
  token: string;
  agentVersion: string;
  spool: SimSpool;
  log: Logger;
  heartbeatIntervalSec: number;
  reconnect: { initialMs: number; maxMs: number };
  heartbeat(): Promise<HeartbeatPayload>;
  snapshot(): SessionSnapshot[];
  runCommand(
    command: Command,
    timeoutMs: number,
    from: { idempotencyKey?: string | undefined } | undefined,
  ): Promise<Reply<unknown>>;
  onUnsendable(row: { seq: number }, ...more: never[]): void;
}

/** `createConnection` and `openSpool` of @hal/agent. */
export interface SimAgentParts {
  openSpool(opts: {
    file: string;
    maxBytes: number;
    overflowDraft: (data: Overflow) => EventDraft;
  }): SimSpool;
  createConnection(deps: SimConnectionDeps): SimConnection;
}

export interface SimAgentOptions {
  parts: SimAgentParts;
  node: string;
  /** The gateway's WebSocket URL, or several tried in turn. */
  urls: string | readonly string[];
  token: string;
  project: { name: string; directory: string };
  /** Folder of the agent's spool file (`<node>.spool.db`). */
  dir: string;
  /** Default 1 s. */
  heartbeatIntervalSec?: number;
  /** Sessions announced (`session.created`) before the first connection. */
  sessions?: readonly string[];
  /**
   * Keep every record appended and every command run (`sent`, `commands`, `welcomes`), for tests
   * that check delivery. Off for long runs, where the lists would grow without end.
   */
  record?: boolean;
  /** Resolve only once a gateway has welcomed the agent. Default true. */
  waitReady?: boolean;
  /** Every line the agent logs (JSON), e.g. to echo it when a test is verbose. */
  onLogLine?: (line: string) => void;
}

/** One event of a batch: `emitMany` appends a batch in one spool transaction, as a busy agent does. */
export interface SimEvent {
  session: string | null;
  type: string;
  data: Record<string, unknown>;
}

export interface SimAgent {
  node: string;
  /** The sessions this agent reports (announced ones and any `emit` named). */
  sessions: ReadonlySet<string>;
  spool: SimSpool;
  connection: SimConnection;
  /** With `record`: every record appended, in agent order. */
  sent: EventRecord[];
  /** With `record`: the commands the agent ran. */
  commands: Command[];
  /** With `record`: the URL of each gateway that welcomed this agent, with when (ms since epoch). */
  welcomes: Array<{ url: string; at: number }>;
  /** Counts, kept always. */
  counts: { welcomes: number; refusals: number; commands: number; events: number };
  /** Appends one event for `session` and tells the connection. */
  emit(session: string, type: string, data: Record<string, unknown>): void;
  emitMany(events: readonly SimEvent[]): void;
  stop(): Promise<void>;
}

export async function startSimAgent(opts: SimAgentOptions): Promise<SimAgent> {
  const { node, project, parts } = opts;
  const record = opts.record ?? false;
  const sent: EventRecord[] = [];
  const commands: Command[] = [];
  const welcomes: Array<{ url: string; at: number }> = [];
  const counts = { welcomes: 0, refusals: 0, commands: 0, events: 0 };
  /** Replies by idempotency key (the sim runs for minutes: no expiry needed). */
  const ran = new Map<string, Promise<Reply<unknown>>>();
  const draftOf = (session: string | null, type: string, data: Record<string, unknown>): EventDraft => ({
    version: 1,
    id: crypto.randomUUID(),
    node,
    project: project.name,
    session,
    type,
    time: new Date().toISOString(),
    data,
  });
  const log = createLogger({
    service: 'agent',
    node,
    level: 'info',
    destination: {
      write(line: string) {
        if (line.includes('"msg":"connected to gateway"')) {
          counts.welcomes += 1;
          if (record) welcomes.push({ url: (JSON.parse(line) as { url: string }).url, at: Date.now() });
        } else if (line.includes('"msg":"gateway refused this agent')) counts.refusals += 1;
        opts.onLogLine?.(line);
      },
    },
  });
  const spool = parts.openSpool({
    file: join(opts.dir, `${node}.spool.db`),
    maxBytes: 256 * 1024 * 1024,
    overflowDraft: (data) => draftOf(null, 'agent.spool_overflow', data),
  });
  const sessions = new Set<string>(opts.sessions ?? []);
  const append = (drafts: EventDraft[]): void => {
    const records = spool.append(drafts);
    counts.events += records.length;
    if (record) sent.push(...records);
  };
  const connection = parts.createConnection({
    url: opts.urls,
    token: opts.token,
    node,
    agentVersion: '0.1.0',
    projects: [project],
    spool,
    log,
    reconnect: { initialMs: 200, maxMs: 2_000 },
    heartbeatIntervalSec: opts.heartbeatIntervalSec ?? 1,
    snapshot: () => [...sessions].map((session) => ({ session, project: project.name, state: 'running' })),
    heartbeat: async () => ({
      load: [0, 0, 0],
      mem_total_bytes: 1,
      mem_free_bytes: 1,
      opencode_ok: true,
      sessions: sessions.size,
      spool_depth: spool.depth(),
    }),
    // As the real agent's command memory: a repeat under one idempotency key is answered, not run.
    runCommand: (command, _timeoutMs, from) => {
      const key = from?.idempotencyKey;
      const known = key === undefined ? undefined : ran.get(key);
      if (known !== undefined) return known;
      counts.commands += 1;
      if (record) commands.push(command);
      const reply = Promise.resolve(okReply({ node, ran: command.type }));
      if (key !== undefined) ran.set(key, reply);
      return reply;
    },
    onUnsendable: (row) => spool.drop(row.seq),
  });
  const emitMany = (events: readonly SimEvent[]): void => {
    for (const e of events) if (e.session !== null) sessions.add(e.session);
    append(events.map((e) => draftOf(e.session, e.type, e.data)));
    connection.notify();
  };
  if (sessions.size > 0) append([...sessions].map((s) => draftOf(s, 'session.created', { title: s })));
  await connection.start();
  if (opts.waitReady ?? true) {
    await waitFor(() => connection.ready(), { timeoutMs: 20_000, message: `${node} welcomed` });
  }
  return {
    node,
    sessions,
    spool,
    connection,
    sent,
    commands,
    welcomes,
    counts,
    emit: (session, type, data) => emitMany([{ session, type, data }]),
    emitMany,
    async stop() {
      await connection.stop();
      spool.close();
    },
  };
}

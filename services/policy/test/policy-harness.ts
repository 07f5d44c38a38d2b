import type { TestContext } from 'node:test';
import {
  connectBus,
  ensureStreams,
  jetstreamClient,
  type NatsConnection,
  publishEvent,
  serve,
} from '@hal/bus';
import { parseConfig, type SupervisorConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import {
  type Command,
  commandRequestSchema,
  ErrorCode,
  type EventRecord,
  HalError,
  type Notification,
  notificationSchema,
  SCHEMA_VERSION,
  StreamName,
  subjects,
  TrackerQuery,
} from '@hal/protocol';
import { FakeClock, type NatsServer, startNats, waitFor } from '@hal/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { z } from 'zod';
import { createPolicy, POLICY_CONSUMER, type PolicyDeps, type PolicyService } from '../src/index.ts';

export const log = createLogger({ service: 'policy-test', level: 'silent' });
export const TOKEN = 'a'.repeat(32);
export const T0 = Date.parse('2030-01-01T00:00:00.000Z');

/** The testkit's (it starts at T0), shared with the gateway and agent tests. */
export { FakeClock };

export function config(raw: Record<string, unknown>): SupervisorConfig {
  return parseConfig('supervisor', { server: { auth_token: TOKEN }, ...raw });
}

export interface Bus {
  server: NatsServer;
  nc: NatsConnection;
  js: ReturnType<typeof jetstreamClient>;
  /**
   * How to stop each policy started on this bus, run (newest first) before the bus closes: node:test
   * runs a test's after hooks in the order they were added, so the bus's would otherwise come first
   * and each policy's stop would then wait ~5 s on a server that is gone.
   */
  readonly stops: Array<() => Promise<void>>;
}

export async function startBus(t: TestContext): Promise<Bus> {
  const server = await startNats();
  const nc = await connectBus({ url: server.url, name: 'policy-test', log });
  const stops: Array<() => Promise<void>> = [];
  t.after(async () => {
    for (const stop of stops.reverse()) await stop();
    await nc.close();
    await server.stop();
  });
  await ensureStreams(nc);
  return { server, nc, js: jetstreamClient(nc), stops };
}

/** A policy service on the bus with a fake clock; the timer is slow so tests tick by hand. */
export async function startPolicy(
  t: TestContext,
  bus: Bus,
  cfg: SupervisorConfig,
  clock: FakeClock,
  extra: Partial<PolicyDeps> = {},
): Promise<PolicyService & { kill(): Promise<void> }> {
  const nc = await connectBus({ url: bus.server.url, name: 'policy-under-test', log });
  const svc = createPolicy({
    config: cfg,
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    clock,
    tickMs: 3_600_000,
    commandTimeoutMs: 2_000,
    ...extra,
  });
  await svc.start();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await svc.stop();
    await nc.close();
  };
  bus.stops.push(stop);
  t.after(stop);
  // As a SIGKILL looks from outside: the connection drops, nothing is released or acked. (The
  // service object lingers until the test ends; with no connection it can do nothing.)
  const kill = async () => {
    await nc.close();
    stopped = true;
    t.after(() => svc.stop().catch(() => undefined));
  };
  return { ...svc, stop, kill };
}

let seq = 0;
export async function emit(
  bus: Bus,
  e: {
    node?: string;
    project?: string;
    session?: string | null;
    type: string;
    data?: Record<string, unknown>;
    time: string;
  },
): Promise<EventRecord> {
  const event: EventRecord = {
    version: SCHEMA_VERSION,
    id: crypto.randomUUID(),
    seq: ++seq,
    node: e.node ?? 'node-a',
    project: e.project ?? 'proj',
    session: e.session === undefined ? 's1' : e.session,
    type: e.type,
    time: e.time,
    data: e.data ?? {},
  };
  await publishEvent(bus.js, event);
  return event;
}

/** Resolves when the shared consumer has handled (acked) everything in HAL_EVENTS. */
export async function settled(bus: Bus): Promise<void> {
  const jsm = await jetstreamManager(bus.nc);
  await waitFor(
    async () => {
      const stream = await jsm.streams.info(StreamName.EVENTS);
      const c = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
      return c.ack_floor.stream_seq >= stream.state.last_seq && c.num_ack_pending === 0;
    },
    { timeoutMs: 15_000, message: 'policy consumer did not catch up' },
  );
}

/**
 * A fake agent on `hal.cmd.<node>`: records each command it runs and answers with `reply`. As the
 * real agent's command memory, a repeat under one idempotency key is answered with the first
 * outcome (waiting for it if it still runs) and not run again; `repeats` lists those keys.
 */
export function fakeAgent(
  bus: Bus,
  node: string,
  reply: (cmd: Command) => unknown = (cmd) => ({
    session: 'session' in cmd ? cmd.session : null,
    resumed: true,
  }),
) {
  const commands: Array<{ command: Command; actor: { kind: string; id: string } }> = [];
  /** The idempotency key each command in `commands` came with. */
  const keys: Array<string | undefined> = [];
  const repeats: string[] = [];
  const outcomes = new Map<string, Promise<unknown>>();
  const server = serve(bus.nc, {
    subject: subjects.command(node),
    schema: commandRequestSchema,
    log,
    handler: async (req) => {
      const key = req.idempotency_key;
      const known = key === undefined ? undefined : outcomes.get(key);
      if (key !== undefined && known !== undefined) {
        repeats.push(key);
        return known;
      }
      commands.push({ command: req.command, actor: req.actor });
      keys.push(key);
      const outcome = (async () => reply(req.command))();
      if (key !== undefined) outcomes.set(key, outcome);
      return outcome;
    },
  });
  return { commands, keys, repeats, stop: () => server.stop() };
}

export function failingReply(): never {
  throw new HalError(ErrorCode.OPENCODE_ERROR, 'opencode refused the prompt');
}

/** A fake tracker answering `sessions_logs` (the only tracker query the policy service asks). */
export function fakeTracker(bus: Bus, entries: Array<{ role: 'user' | 'assistant'; text: string }>) {
  const asked: string[] = [];
  const server = serve(bus.nc, {
    subject: subjects.trackerQuery(TrackerQuery.SESSIONS_LOGS),
    schema: z.object({ session: z.string() }).passthrough(),
    log,
    handler: async (req) => {
      asked.push(req.session);
      return {
        entries: entries.map((e, i) => ({
          stream_seq: i + 1,
          time: new Date(T0).toISOString(),
          message_id: `m${i}`,
          part_id: `p${i}`,
          role: e.role,
          kind: 'text',
          text: e.text,
          tool: null,
          tool_status: null,
        })),
      };
    },
  });
  return { asked, stop: () => server.stop() };
}

async function readStream(bus: Bus, stream: string): Promise<Array<{ subject: string; data: unknown }>> {
  const jsm = await jetstreamManager(bus.nc);
  const info = await jsm.streams.info(stream);
  const out: Array<{ subject: string; data: unknown }> = [];
  for (let s = info.state.first_seq; s <= info.state.last_seq && info.state.messages > 0; s++) {
    const m = await jsm.streams.getMessage(stream, { seq: s }).catch(() => null);
    if (m) out.push({ subject: m.subject, data: m.json() });
  }
  return out;
}

export async function notifications(bus: Bus): Promise<Array<Notification & { subject: string }>> {
  return (await readStream(bus, StreamName.NOTIFY)).map((m) => ({
    ...notificationSchema.parse(m.data),
    subject: m.subject,
  }));
}

export async function policyActions(bus: Bus, policy?: string) {
  return (await readStream(bus, StreamName.EVENTS))
    .map((m) => m.data as EventRecord)
    .filter((e) => e.type === 'policy.action' && (policy === undefined || e.data.policy === policy))
    .map((e) => ({
      ...(e.data as {
        policy: string;
        decision: string;
        reason: string;
        severity?: string;
        alert?: string;
        command?: Command;
      }),
      node: e.node,
      session: e.session,
    }));
}

export async function auditRecords(bus: Bus) {
  return (await readStream(bus, StreamName.AUDIT)).map(
    (m) => m.data as { actor: { kind: string; id: string }; action: string },
  );
}

/** Publishes many events concurrently (a flood), in chunks to keep the client's buffers small. */
export async function publishMany(bus: Bus, events: Array<Parameters<typeof emit>[1]>): Promise<void> {
  for (let i = 0; i < events.length; i += 100) {
    await Promise.all(events.slice(i, i + 100).map((e) => emit(bus, e)));
  }
}

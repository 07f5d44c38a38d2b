import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { type Backoff, backoffDelay, type Logger } from '@hal/observability';
import { EventType, SessionState } from '@hal/protocol';
import {
  createMapperState,
  type MappedEvent,
  mapOpencodeEvent,
  permissionAskedData,
  sessionInfoData,
} from './event-mapper.ts';
import { recoverMessages } from './message-recovery.ts';
import type { OpencodeClient } from './opencode-client.ts';
import { ocEventSchema, ocGlobalEventSchema, ocSessionSchema } from './opencode-schemas.ts';
import type { RestoredMarks, SeenMarks } from './recovery-memory.ts';
import type { SessionRegistry } from './session-registry.ts';
import { readSseData } from './sse-reader.ts';

export interface ProjectRef {
  name: string;
  directory: string;
}

/** A mapped event with the project it belongs to. */
export interface ProjectEvent extends MappedEvent {
  project: string;
}

/** Events held while a reconcile runs, with the marks they account for. */
interface Batch {
  events: ProjectEvent[];
  marks: SeenMarks | undefined;
}

export interface OpencodeEventsDeps {
  client: OpencodeClient;
  projects: readonly ProjectRef[];
  registry: SessionRegistry;
  log: Logger;
  /**
   * Receives every batch of HAL events, in order; must spool them synchronously, and persist `marks`
   * (what the batch accounts for) in the same transaction. A batch may be empty but for its marks.
   */
  emit(events: ProjectEvent[], marks?: SeenMarks): void;
  /** What earlier agent processes on this data dir saw and sent (none: a first run). */
  restored?: RestoredMarks;
  /** Called when opencode's stream could (true) or could not (false) be opened. */
  onReachable?(up: boolean): void;
  backoff?: Backoff;
  random?: () => number;
  /** How long a fresh stream may stay silent before reconciling anyway (default 5 s). */
  firstEventTimeoutMs?: number;
  /** How long opening the stream (its response headers) may take before trying again (default 10 s). */
  openTimeoutMs?: number;
}

export interface OpencodeEvents {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Resolves after the next completed reconcile (tests and start-up ordering). */
  reconciled(): Promise<void>;
  /**
   * Resolves once the first subscription is live and reconciled, or the first attempt failed
   * (opencode down: commands then fail fast with OPENCODE_UNREACHABLE instead of waiting).
   */
  firstSync(): Promise<void>;
}

function canonical(dir: string): string {
  const abs = resolve(dir);
  try {
    return realpathSync(abs);
  } catch {
    // A directory that does not exist (yet) is matched by its resolved path.
    return abs;
  }
}

/**
 * One SSE subscription to `GET /global/event` for every project of the host. When the stream
 * drops it re-subscribes with capped backoff and, because opencode does not replay, reconciles
 * each project from `GET /session`, `GET /session/status` and `GET /permission`.
 */
export function createOpencodeEvents(deps: OpencodeEventsDeps): OpencodeEvents {
  const { client, registry, log } = deps;
  const backoff = deps.backoff ?? { initialMs: 250, maxMs: 10_000 };
  const random = deps.random ?? Math.random;
  const byDirectory = new Map<string, string>();
  for (const p of deps.projects) {
    byDirectory.set(resolve(p.directory), p.name);
    byDirectory.set(canonical(p.directory), p.name);
  }
  const state = createMapperState();
  for (const id of deps.restored?.completed ?? []) state.completed.set(id, true);
  for (const id of deps.restored?.parts ?? []) state.parts.set(id, true);
  let stopping = false;
  let abort: AbortController | undefined;
  let loop: Promise<void> | undefined;
  let waiters: Array<() => void> = [];
  let wake: (() => void) | undefined;
  /** Before this (epoch ms) nothing is "missed"; undefined: the first listing of this process is the baseline. */
  const baselineMs = deps.restored?.baselineMs;
  let listedOnce = false;
  /** Session id → its `time.updated` as last seen (opencode ms), to spot sessions that moved meanwhile. */
  const lastSeen = new Map<string, number>(deps.restored?.sessions);
  let firstSyncDone!: () => void;
  const firstSync = new Promise<void>((r) => {
    firstSyncDone = r;
  });

  function projectOf(directory: string | undefined): string | undefined {
    if (directory === undefined) return undefined;
    return byDirectory.get(resolve(directory)) ?? byDirectory.get(canonical(directory));
  }

  function handle(raw: string, buffer: Batch[] | undefined): void {
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      log.warn({ size: raw.length }, 'opencode sent a non-JSON event, ignored');
      return;
    }
    const wrapped = ocGlobalEventSchema.safeParse(json);
    const bare = wrapped.success ? undefined : ocEventSchema.safeParse(json);
    const ev = wrapped.success ? wrapped.data.payload : bare?.success ? bare.data : undefined;
    if (ev === undefined) return;
    const project = projectOf(wrapped.success ? wrapped.data.directory : undefined);
    if (project === undefined) return;
    const sessions: Array<[string, number]> = [];
    if (ev.type.startsWith('session.')) {
      const info = ocSessionSchema.safeParse(ev.properties.info);
      const updated = info.success ? info.data.time?.updated : undefined;
      if (info.success && updated !== undefined && see(info.data.id, updated))
        sessions.push([info.data.id, updated]);
    }
    const mapped = mapOpencodeEvent(state, ev).map((m) => ({ ...m, project }));
    if (mapped.length === 0 && sessions.length === 0) return;
    const batch: Batch = { events: mapped, marks: sessions.length > 0 ? { sessions } : undefined };
    if (buffer !== undefined) buffer.push(batch);
    else deps.emit(batch.events, batch.marks);
  }

  /** Should reconcile fetch this session's messages, and from when on? */
  function missedSince(
    id: string,
    updated: number | undefined,
    turnEnded: boolean,
  ): { since: number | undefined } | undefined {
    // What happened before any agent ran on this data dir is not "missed" (replaying every session's
    // whole history would be costly): a session's mark starts at the baseline. Every listing, in this
    // process or after a restart (marks are persisted), reads what moved past the mark — turns that
    // ended while the agent was down or before its stream was live, e.g. while a managed opencode
    // came up. Without a baseline (no persisted marks) the first listing only takes marks.
    if (baselineMs === undefined && !listedOnce) return undefined;
    const last = lastSeen.get(id) ?? baselineMs;
    if (turnEnded || last === undefined || (updated !== undefined && updated > last)) return { since: last };
    return undefined;
  }

  /** Moves the session's mark forward; true when it moved (the caller persists it with its events). */
  function see(id: string, updated: number | undefined): boolean {
    if (updated === undefined) return false;
    const last = lastSeen.get(id);
    if (last !== undefined && updated <= last) return false;
    // Re-inserted so the map's order is least recently moved first: the bound drops those.
    lastSeen.delete(id);
    lastSeen.set(id, updated);
    if (lastSeen.size > 10_000) {
      const oldest = lastSeen.keys().next().value;
      if (oldest !== undefined) lastSeen.delete(oldest);
    }
    return true;
  }

  /** Emits what changed while nobody was listening, against what the registry knows. */
  async function reconcile(): Promise<void> {
    for (const project of deps.projects) {
      const [sessions, statuses, permissions] = await Promise.all([
        client.listSessions(project.directory),
        client.sessionStatus(project.directory),
        client.listPermissions(project.directory).catch(() => []),
      ]);
      const out: ProjectEvent[] = [];
      const moved: Array<[string, number]> = [];
      const refs = (session: string) => ({ type: 'reconcile', session_id: session });
      const seen = new Set<string>();
      for (const s of sessions) {
        seen.add(s.id);
        const known = registry.get(s.id);
        if (known === undefined) {
          out.push({
            project: project.name,
            session: s.id,
            type: EventType.SESSION_CREATED,
            data: { ...sessionInfoData(s), reconciled: true },
            refs: refs(s.id),
          });
        }
        const status = statuses[s.id]?.type ?? 'idle';
        const busyNow = status === 'busy' || status === 'retry';
        const wasBusy =
          known !== undefined &&
          (known.state === SessionState.RUNNING || known.state === SessionState.WAITING_INPUT);
        // Turns that ended while the stream was down: their message.completed (tokens, cost) and
        // parts come from the stored messages, before the idle that closes the turn.
        const missed = missedSince(s.id, s.time?.updated, wasBusy && !busyNow);
        let recovered = true;
        if (missed !== undefined) {
          try {
            out.push(
              ...(await recoverMessages({ client, state, project, session: s.id, since: missed.since })),
            );
          } catch (err) {
            recovered = false;
            log.warn({ err, session: s.id }, 'could not read the messages of a session to reconcile');
          }
        }
        // A failed read leaves the mark where it was, so the next reconcile tries again.
        const updated = s.time?.updated;
        if (recovered && updated !== undefined && see(s.id, updated)) moved.push([s.id, updated]);
        if (busyNow && !wasBusy) {
          out.push({
            project: project.name,
            session: s.id,
            type: EventType.SESSION_BUSY,
            data: { reconciled: true },
            refs: refs(s.id),
          });
        } else if (!busyNow && wasBusy) {
          out.push({
            project: project.name,
            session: s.id,
            type: EventType.SESSION_IDLE,
            data: { reconciled: true },
            refs: refs(s.id),
          });
        }
      }
      for (const perm of permissions) {
        if (!seen.has(perm.sessionID) || registry.get(perm.sessionID)?.pending_permissions.has(perm.id))
          continue;
        const data = permissionAskedData(perm);
        if (data === undefined) continue;
        out.push({
          project: project.name,
          session: perm.sessionID,
          type: EventType.PERMISSION_ASKED,
          data: { ...data, reconciled: true },
          refs: { ...refs(perm.sessionID), permission_id: perm.id },
        });
      }
      for (const known of registry.all()) {
        if (known.project === project.name && !seen.has(known.session)) {
          out.push({
            project: project.name,
            session: known.session,
            type: EventType.SESSION_DELETED,
            data: { reconciled: true },
            refs: refs(known.session),
          });
        }
      }
      if (out.length > 0 || moved.length > 0) deps.emit(out, { sessions: moved });
    }
    listedOnce = true;
  }

  async function subscribeOnce(): Promise<void> {
    const controller = new AbortController();
    abort = controller;
    // opencode can accept a request while it boots and never answer it (seen with a managed server
    // just launched): without a bound the agent would wait on that stream forever, blind.
    const openMs = deps.openTimeoutMs ?? 10_000;
    const openTimer = setTimeout(
      () => controller.abort(new Error(`opencode event stream not answered within ${openMs} ms`)),
      openMs,
    );
    let res: Response;
    try {
      res = await fetch(`${client.url}/global/event`, {
        headers: { accept: 'text/event-stream', ...client.headers() },
        signal: controller.signal,
      });
    } finally {
      clearTimeout(openTimer);
    }
    if (!res.ok || res.body === null) throw new Error(`opencode event stream answered ${res.status}`);
    deps.onReachable?.(true);
    // Events that arrive while reconciling wait, so a stale listing never overrides a newer event.
    let buffer: Batch[] | undefined = [];
    let gotFirst!: () => void;
    const first = new Promise<'event'>((r) => {
      gotFirst = () => r('event');
    });
    const reading = (async () => {
      for await (const data of readSseData(res.body as ReadableStream<Uint8Array>)) {
        gotFirst();
        handle(data, buffer);
      }
    })();
    reading.catch(() => undefined);
    try {
      // opencode sends the response headers before it has subscribed to its bus; it writes its
      // first event (server.connected) as it subscribes. A listing taken before that can miss a
      // session created in between, whose session.created then never comes: wait for it.
      let timer: NodeJS.Timeout | undefined;
      const outcome = await Promise.race([
        first,
        reading.then(
          () => 'ended' as const,
          () => 'ended' as const,
        ),
        new Promise<'timeout'>((r) => {
          timer = setTimeout(() => r('timeout'), deps.firstEventTimeoutMs ?? 5_000);
        }),
      ]);
      clearTimeout(timer);
      if (outcome === 'ended') throw new Error('opencode event stream ended before its first event');
      if (outcome === 'timeout') log.warn('opencode event stream silent after opening, reconciling anyway');
      await reconcile();
    } finally {
      const held = buffer ?? [];
      buffer = undefined;
      for (const batch of held) deps.emit(batch.events, batch.marks);
      for (const w of waiters) w();
      waiters = [];
    }
    log.info({ projects: deps.projects.length }, 'opencode events subscribed and reconciled');
    firstSyncDone();
    await reading;
  }

  async function run(): Promise<void> {
    let attempt = 0;
    while (!stopping) {
      const started = Date.now();
      try {
        await subscribeOnce();
        if (!stopping) log.warn('opencode event stream ended, re-subscribing');
      } catch (err) {
        firstSyncDone();
        if (stopping) break;
        deps.onReachable?.(false);
        log.warn({ err }, 'opencode event stream failed, re-subscribing');
      }
      abort?.abort();
      if (stopping) break;
      // A stream that lived a while was healthy: start the backoff over.
      if (Date.now() - started > 5_000) attempt = 0;
      const delay = backoffDelay(attempt, backoff, random);
      attempt += 1;
      await new Promise<void>((r) => {
        const timer = setTimeout(r, delay);
        wake = () => {
          clearTimeout(timer);
          r();
        };
      });
      wake = undefined;
    }
  }

  return {
    async start() {
      stopping = false;
      loop = run();
    },
    async stop() {
      stopping = true;
      abort?.abort();
      wake?.();
      await loop;
      firstSyncDone();
    },
    reconciled: () => new Promise<void>((r) => waiters.push(r)),
    firstSync: () => firstSync,
  };
}

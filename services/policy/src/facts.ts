import { createHash } from 'node:crypto';
import {
  clipText,
  controlPlaneTime,
  type EventRecord,
  EventType,
  hostTimeOnControlPlane,
  MESSAGE_ABORTED_ERROR,
  messageCompletedDataSchema,
  messagePartDataSchema,
  nodeSnapshotDataSchema,
  permissionAskedDataSchema,
  permissionRepliedDataSchema,
  questionAskedDataSchema,
  questionRepliedDataSchema,
  SessionState,
  sessionErrorDataSchema,
  sessionInfoDataSchema,
  sessionRetryDataSchema,
} from '@hal/protocol';

/**
 * What the policies know about one session, projected from the events this service consumes
 * and kept in KV: the durable consumer is shared, so each instance sees only part of the
 * events, and the projection must live where every instance (and the next start) reads it.
 */
export interface SessionFacts {
  session: string;
  node: string;
  project: string;
  /**
   * The protocol's states, of which policy tells only these apart: starting, running, idle,
   * waiting_input, and over (completed when opencode deleted it or the agent no longer has it,
   * killed when the agent says so).
   */
  state: SessionState;
  /** ms; start of the current idle period, null while not idle. */
  idle_since: number | null;
  /** ms; since when a permission or question has been pending. */
  waiting_since: number | null;
  pending: string[];
  title: string | null;
  /** The first user prompt. */
  task: string | null;
  /** The newest assistant texts (oldest first), for hand-off prompts. */
  last_texts: string[];
  cost_usd: number;
  compactions: number;
  /** Context size of the newest assistant message (input + cache + output tokens). */
  context_tokens: number;
  /** ms of recent errors (aborts excluded), newest last. */
  error_times: number[];
  last_error: string | null;
  /** A provider usage/rate limit stopped the session; resume at `resume_at` (null: fallback). */
  limit: { at: number; resume_at: number | null } | null;
  /** A policy retired the session (restarted it, killed or paused it): no policy acts on it again. */
  stopped_by: string | null;
  /** ms; error_loop stopped interventions on the session until then. */
  blocked_until: number | null;
  updated_at: number;
  /**
   * The newest events that changed these facts, as one string of APPLIED_TOKEN_CHARS-character
   * digests of their ids (appliedToken). An agent resends what it saw unacked, and past
   * JetStream's duplicate window the resend is a second stream message: without this a resent
   * message.completed or session.compacted would count twice. A string of short digests and not
   * a list of ids: these facts are parsed and written for every event a session has, and 256 ids
   * were ~10 KB of JSON — most of the policy's CPU and of what it wrote to KV. Versions before
   * kept the ids themselves (a list; still read), older ones nothing.
   */
  applied?: string | string[];
  /**
   * HAL_EVENTS stream seq of the newest event that changed these facts. A session's events are
   * handled in stream order, so one at or below it was handled already: a new leader replays
   * from the consumer's ack floor, past events the old one finished (event-consumer.ts).
   */
  seq?: number;
}

export interface NodeFacts {
  node: string;
  online: boolean;
  offline_since: number | null;
  /** As SessionFacts.seq. */
  seq?: number;
}

const MAX_ERRORS_KEPT = 100;
/**
 * Bound of `applied`. A resend is at most the agent's unacked window (4 batches of 500), of which
 * only the events that change facts are remembered: busy/idle, final texts, completions, errors,
 * compactions, permissions — a handful per turn.
 */
export const MAX_APPLIED_KEPT = 256;
/**
 * Characters of one event's digest in `applied`: 48 bits of SHA-1, base64url. A chance collision
 * among 256 ids is ~1e-10; a contrived one only skips an event of the sender's own session.
 */
const APPLIED_TOKEN_CHARS = 8;
const MAX_TEXTS_KEPT = 3;
const TEXT_KEEP = 600;
const TASK_KEEP = 4000;
const TITLE_KEEP = 256;
const ERROR_KEEP = 1000;
/**
 * Words that say a provider limit stopped the work. No `.*` and no nested quantifier: with the
 * text clipped to LIMITS.matchTextChars first, a match costs a bounded, linear scan whatever an
 * agent sends (`limit.*reset` on a megabyte of "limit" was quadratic: ~90 s of frozen policy).
 */
const LIMIT_PATTERN = /rate.?limit|usage.?limit|quota|too many requests|overloaded/i;

export function emptyFacts(event: EventRecord, session: string): SessionFacts {
  return {
    session,
    node: event.node,
    project: event.project,
    state: SessionState.STARTING,
    idle_since: null,
    waiting_since: null,
    pending: [],
    title: null,
    task: null,
    last_texts: [],
    cost_usd: 0,
    compactions: 0,
    context_tokens: 0,
    error_times: [],
    last_error: null,
    limit: null,
    stopped_by: null,
    blocked_until: null,
    updated_at: 0,
    applied: '',
  };
}

const OVER: ReadonlySet<string> = new Set<string>([
  SessionState.COMPLETED,
  SessionState.KILLED,
  // Written by versions before the protocol's states were used here; still in KV after an upgrade.
  'deleted',
]);

/** The session has ended: no policy acts on it, and its keys may be pruned. */
export function isSessionOver(f: Pick<SessionFacts, 'state'>): boolean {
  return OVER.has(f.state);
}

/** True when an error or retry message says a provider limit stopped the work. */
export function isLimitError(
  kind: string | undefined,
  message: string | undefined,
  status?: number,
): boolean {
  if (status === 429) return true;
  // Each part clipped before they are joined: nothing ever walks the whole message.
  const text = `${clipText(kind ?? '', 256)} ${clipText(message ?? '')}`;
  if (LIMIT_PATTERN.test(text)) return true;
  // "limit … reset" as two searches: linear, where the regex `limit.*reset` backtracked.
  const lower = text.toLowerCase();
  const limitAt = lower.indexOf('limit');
  return limitAt >= 0 && lower.indexOf('reset', limitAt + 5) >= 0;
}

function becomeIdle(f: SessionFacts, at: number): void {
  if (f.state !== SessionState.IDLE || f.idle_since === null) f.idle_since = at;
  f.state = f.pending.length > 0 ? SessionState.WAITING_INPUT : SessionState.IDLE;
}

/** True when facts already hold stream message `streamSeq` or a later one: a replay, changing nothing. */
export function isReplay(f: { seq?: number } | undefined, streamSeq: number): boolean {
  return f?.seq !== undefined && streamSeq <= f.seq;
}

/** The digest of an event id kept in `applied`. */
export function appliedToken(id: string): string {
  return createHash('sha1').update(id).digest('base64url').slice(0, APPLIED_TOKEN_CHARS);
}

/** `applied` as a string of digests, whichever form the facts were written in. */
function appliedTokens(f: Pick<SessionFacts, 'applied'> | undefined): string {
  const a = f?.applied;
  if (a === undefined) return '';
  return typeof a === 'string' ? a : a.map(appliedToken).join('');
}

/** True when `event` already changed these facts (a resend: skip it, and act on nothing). */
export function wasApplied(f: SessionFacts | undefined, event: Pick<EventRecord, 'id'>): boolean {
  if (f?.applied === undefined) return false;
  if (Array.isArray(f.applied)) return f.applied.includes(event.id);
  const tokens = f.applied;
  const token = appliedToken(event.id);
  // Only at a token's start: a match across two tokens is not one.
  for (let at = tokens.indexOf(token); at >= 0; at = tokens.indexOf(token, at + 1)) {
    if (at % APPLIED_TOKEN_CHARS === 0) return true;
  }
  return false;
}

/**
 * Applies one event to a session's facts; returns undefined when the event changes nothing
 * (so no KV write happens), a repeat included. Pure: the caller stores the result with
 * compare-and-set, so the check and the record of the id are one write.
 */
export function applyEvent(current: SessionFacts | undefined, event: EventRecord): SessionFacts | undefined {
  if (event.session === null || wasApplied(current, event)) return undefined;
  // A session stays with the node that first reported it (the gateway refuses the others; this
  // is the second line): another node's report about it changes nothing.
  if (current !== undefined && current.node !== event.node) return undefined;
  const f: SessionFacts = current ? structuredClone(current) : emptyFacts(event, event.session);
  const at = controlPlaneTime(event) ?? Date.now();
  f.node = event.node;
  if (event.project !== '') f.project = event.project;
  const d = event.data;
  switch (event.type) {
    case EventType.SESSION_CREATED:
    case EventType.SESSION_UPDATED: {
      const info = sessionInfoDataSchema.safeParse(d);
      if (info.success && info.data.title) f.title = clipText(info.data.title, TITLE_KEEP);
      if (current === undefined) f.state = SessionState.STARTING;
      break;
    }
    case EventType.SESSION_BUSY:
      f.state = SessionState.RUNNING;
      f.idle_since = null;
      // Working again after the limit's reset: the limit is over.
      if (f.limit !== null && at > (f.limit.resume_at ?? f.limit.at)) f.limit = null;
      break;
    case EventType.SESSION_IDLE:
      becomeIdle(f, at);
      break;
    case EventType.SESSION_DELETED:
      f.state = SessionState.COMPLETED;
      f.idle_since = null;
      break;
    case EventType.SESSION_COMPACTED:
      f.compactions += 1;
      break;
    case EventType.SESSION_RETRY: {
      const r = sessionRetryDataSchema.safeParse(d);
      if (!r.success || !isLimitError(undefined, r.data.message))
        return current === undefined ? f : undefined;
      // opencode computed next_at on the host: its clock, corrected like the event's own time.
      f.limit = { at, resume_at: hostTimeOnControlPlane(r.data.next_at, event) ?? null };
      break;
    }
    case EventType.SESSION_ERROR: {
      const e = sessionErrorDataSchema.safeParse(d);
      if (!e.success) return undefined;
      // An abort is HAL or a person stopping the session, not the session failing.
      if (e.data.kind === MESSAGE_ABORTED_ERROR) return current === undefined ? f : undefined;
      f.error_times = [...f.error_times, at].slice(-MAX_ERRORS_KEPT);
      f.last_error = clipText(`${e.data.kind}${e.data.message ? `: ${e.data.message}` : ''}`, ERROR_KEEP);
      if (isLimitError(e.data.kind, e.data.message, e.data.status_code) || e.data.reset_at !== undefined) {
        f.limit = { at, resume_at: hostTimeOnControlPlane(e.data.reset_at, event) ?? null };
      }
      break;
    }
    case EventType.MESSAGE_COMPLETED: {
      const m = messageCompletedDataSchema.safeParse(d);
      if (!m.success) return undefined;
      f.cost_usd += m.data.cost_usd;
      const t = m.data.tokens;
      f.context_tokens = t.input + t.cache_read + t.cache_write + t.output;
      break;
    }
    case EventType.MESSAGE_PART: {
      const p = messagePartDataSchema.safeParse(d);
      if (!p.success || p.data.part_type !== 'text' || !p.data.text) return undefined;
      if (p.data.role === 'user') {
        if (f.task !== null) return undefined;
        f.task = p.data.text.slice(0, TASK_KEEP);
      } else {
        f.last_texts = [...f.last_texts, p.data.text.slice(-TEXT_KEEP)].slice(-MAX_TEXTS_KEPT);
      }
      break;
    }
    case EventType.PERMISSION_ASKED:
    case EventType.QUESTION_ASKED: {
      const id =
        event.type === EventType.PERMISSION_ASKED
          ? permissionAskedDataSchema.safeParse(d).data?.permission_id
          : questionAskedDataSchema.safeParse(d).data?.question_id;
      if (id === undefined) return undefined;
      if (!f.pending.includes(id)) f.pending = [...f.pending, id];
      f.waiting_since ??= at;
      f.state = SessionState.WAITING_INPUT;
      break;
    }
    case EventType.PERMISSION_REPLIED:
    case EventType.QUESTION_REPLIED: {
      const id =
        event.type === EventType.PERMISSION_REPLIED
          ? permissionRepliedDataSchema.safeParse(d).data?.permission_id
          : questionRepliedDataSchema.safeParse(d).data?.question_id;
      if (id === undefined) return undefined;
      f.pending = f.pending.filter((p) => p !== id);
      if (f.pending.length === 0) {
        f.waiting_since = null;
        if (f.state === SessionState.WAITING_INPUT) f.state = SessionState.RUNNING;
      }
      break;
    }
    case EventType.HANDOFF_COMPLETED:
    case EventType.HANDOFF_FAILED:
      // No fact changes; restart_on_compaction reads the outcome of its hand-off from the event.
      if (current === undefined) return undefined;
      break;
    default:
      return undefined;
  }
  f.updated_at = Math.max(f.updated_at, at);
  f.applied = (appliedTokens(f) + appliedToken(event.id)).slice(-MAX_APPLIED_KEPT * APPLIED_TOKEN_CHARS);
  return f;
}

/** A node snapshot (after an agent reconnects) sets each session's state as the agent sees it. */
export function applySnapshotSession(
  current: SessionFacts | undefined,
  event: EventRecord,
  snap: { session: string; project: string; state: SessionState; title?: string | undefined },
): SessionFacts | undefined {
  if (current !== undefined && current.node !== event.node) return undefined;
  const at = controlPlaneTime(event) ?? Date.now();
  const f = current ? structuredClone(current) : emptyFacts(event, snap.session);
  f.node = event.node;
  f.project = snap.project;
  if (snap.title) f.title = clipText(snap.title, TITLE_KEEP);
  if (snap.state === SessionState.IDLE) becomeIdle(f, at);
  else if (snap.state === SessionState.RUNNING || snap.state === SessionState.STARTING) {
    f.state = SessionState.RUNNING;
    f.idle_since = null;
  } else if (snap.state === SessionState.KILLED || snap.state === SessionState.COMPLETED) {
    f.state = snap.state;
  } else return current === undefined ? f : undefined;
  f.updated_at = Math.max(f.updated_at, at);
  return f;
}

export function snapshotSessions(event: EventRecord) {
  const parsed = nodeSnapshotDataSchema.safeParse(event.data);
  return parsed.success ? parsed.data.sessions : [];
}

export function applyNodeEvent(current: NodeFacts | undefined, event: EventRecord): NodeFacts | undefined {
  const at = controlPlaneTime(event) ?? Date.now();
  if (event.type === EventType.NODE_OFFLINE) {
    if (current && !current.online) return undefined;
    return { node: event.node, online: false, offline_since: at };
  }
  if (event.type === EventType.NODE_ONLINE) {
    if (current?.online) return undefined;
    return { node: event.node, online: true, offline_since: null };
  }
  return undefined;
}

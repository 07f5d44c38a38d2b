import { EventType, type OpencodeRefs, RAW_OPENCODE_PREFIX } from '@hal/protocol';
import type { z } from 'zod';
import {
  type OcEvent,
  type OcMessage,
  type OcMessageInfo,
  type OcPart,
  ocMessageInfoSchema,
  ocPartSchema,
  ocPermissionSchema,
  ocSessionSchema,
  ocStatusSchema,
} from './opencode-schemas.ts';

/** A HAL event before the agent adds node, project, id, time and seq. */
export interface MappedEvent {
  session: string | null;
  type: string;
  data: Record<string, unknown>;
  refs: OpencodeRefs;
}

/**
 * opencode events dropped on purpose, because they are noise or repeat what another event says:
 * - `message.part.delta`, `session.next.*.delta`: streamed text; the finished part is sent instead.
 * - `server.connected`, `server.heartbeat`: stream keep-alives.
 * - `plugin.*`, `catalog.*`, `models-dev.*`, `integration.*`: start-up and catalogue chatter.
 * - `session.idle`: deprecated twin of `session.status {idle}`, which is mapped.
 * - `sync`: opencode's replication copy of the bus events (same facts, other shape).
 * Unfinished `message.updated` / `message.part.updated` are dropped too (see their mapping).
 */
export const DROPPED_OPENCODE_TYPES: readonly string[] = [
  'message.part.delta',
  'session.next.text.delta',
  'session.next.reasoning.delta',
  'session.next.tool.input.delta',
  'session.next.compaction.delta',
  'server.connected',
  'server.heartbeat',
  'plugin.*',
  'catalog.*',
  'models-dev.*',
  'integration.*',
  'session.idle',
  'sync',
];

/** Largest JSON size of the raw properties kept on an `opencode.<type>` event. */
export const RAW_PROPERTIES_LIMIT = 16 * 1024;
/** Longest text kept on a `message.part` (text or tool output), so one event never nears a frame's size. */
export const PART_TEXT_LIMIT = 32 * 1024;

export function isDroppedType(type: string): boolean {
  return DROPPED_OPENCODE_TYPES.some((p) =>
    p.endsWith('.*') ? type === p.slice(0, -2) || type.startsWith(p.slice(0, -1)) : type === p,
  );
}

/** What the mapper remembers between events, bounded so a long-lived agent does not grow. */
export interface MapperState {
  /** Assistant messages already reported as completed: `message.completed` goes out once. */
  completed: Map<string, true>;
  /** Message id → role, learnt from `message.updated`, so parts know whose they are. */
  roles: Map<string, string>;
  /** Parts already reported in their final form. */
  parts: Map<string, true>;
}

const MEMORY = 10_000;

export function createMapperState(): MapperState {
  return { completed: new Map(), roles: new Map(), parts: new Map() };
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  map.set(key, value);
  if (map.size > MEMORY) {
    const oldest = map.keys().next().value;
    if (oldest !== undefined) map.delete(oldest);
  }
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

function clip(text: string | undefined, limit = PART_TEXT_LIMIT): string | undefined {
  return text === undefined || text.length <= limit ? text : `${text.slice(0, limit)}…[truncated]`;
}

function parse<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> | undefined {
  const r = schema.safeParse(value);
  return r.success ? r.data : undefined;
}

/** `opencode.<type>` with characters the HAL type vocabulary does not allow folded to `_`. */
export function rawType(type: string): string {
  const words = type
    .toLowerCase()
    .split('.')
    .map((w) => w.replace(/[^a-z0-9_]/g, '_').replace(/^([^a-z])/, 'x$1'))
    .filter((w) => w !== '');
  return `${RAW_OPENCODE_PREFIX}${words.join('.') || 'unknown'}`;
}

function trimmedProperties(properties: Record<string, unknown>): Record<string, unknown> {
  const json = JSON.stringify(properties);
  if (json.length <= RAW_PROPERTIES_LIMIT) return { properties };
  return { truncated: true, size: json.length, preview: json.slice(0, RAW_PROPERTIES_LIMIT) };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function sessionOf(p: Record<string, unknown>): string | null {
  const info = p.info as Record<string, unknown> | undefined;
  const part = p.part as Record<string, unknown> | undefined;
  return str(p.sessionID) ?? str(info?.sessionID) ?? str(part?.sessionID) ?? null;
}

function tokensOf(info: OcMessageInfo) {
  const t = info.tokens;
  return {
    input: Math.max(0, Math.round(t?.input ?? 0)),
    output: Math.max(0, Math.round(t?.output ?? 0)),
    reasoning: Math.max(0, Math.round(t?.reasoning ?? 0)),
    cache_read: Math.max(0, Math.round(t?.cache.read ?? 0)),
    cache_write: Math.max(0, Math.round(t?.cache.write ?? 0)),
  };
}

function messageCompleted(state: MapperState, info: OcMessageInfo, refs: OpencodeRefs): MappedEvent[] {
  remember(state.roles, info.id, info.role);
  // tokens and cost grow while the reply streams; only the final value (time.completed set) counts,
  // and exactly once per message — summing updates would multiply the bill.
  if (info.role !== 'assistant' || info.time?.completed === undefined || state.completed.has(info.id))
    return [];
  remember(state.completed, info.id, true);
  const data: Record<string, unknown> = {
    message_id: info.id,
    model: info.modelID ?? 'unknown',
    provider: info.providerID ?? 'unknown',
    tokens: tokensOf(info),
    cost_usd: Math.max(0, info.cost ?? 0),
  };
  if (info.finish !== undefined) data.finish = info.finish;
  if (info.error?.name !== undefined) data.error = info.error.name;
  return [
    {
      session: info.sessionID,
      type: EventType.MESSAGE_COMPLETED,
      data,
      refs: { ...refs, message_id: info.id },
    },
  ];
}

function partEvent(state: MapperState, part: OcPart, refs: OpencodeRefs): MappedEvent[] {
  const role = state.roles.get(part.messageID) === 'user' ? 'user' : 'assistant';
  let final = false;
  const data: Record<string, unknown> = {
    message_id: part.messageID,
    part_id: part.id,
    role,
    part_type: part.type,
  };
  if (part.type === 'text') {
    // A user's text arrives whole; an assistant's is final once `time.end` is set.
    final = role === 'user' || part.time?.end !== undefined;
    data.text = clip(part.text ?? '');
  } else if (part.type === 'tool') {
    const status = part.state?.status;
    final = status === 'completed' || status === 'error';
    data.tool = part.tool;
    data.tool_status = status;
    data.tool_input = part.state?.input;
    const out = part.state?.output ?? part.state?.error;
    if (out !== undefined) data.tool_output = clip(typeof out === 'string' ? out : JSON.stringify(out));
  }
  if (!final || state.parts.has(part.id)) return [];
  remember(state.parts, part.id, true);
  return [
    {
      session: part.sessionID,
      type: EventType.MESSAGE_PART,
      data,
      refs: { ...refs, message_id: part.messageID, part_id: part.id },
    },
  ];
}

function statusEvent(session: string | null, statusValue: unknown, refs: OpencodeRefs): MappedEvent[] {
  const status = parse(ocStatusSchema, statusValue);
  if (status === undefined) return [];
  if (status.type === 'busy') return [{ session, type: EventType.SESSION_BUSY, data: {}, refs }];
  if (status.type === 'idle') return [{ session, type: EventType.SESSION_IDLE, data: {}, refs }];
  if (status.type === 'retry') {
    const data: Record<string, unknown> = {};
    if (status.attempt !== undefined) data.attempt = status.attempt;
    if (status.message !== undefined) data.message = status.message;
    if (status.next !== undefined) data.next_at = iso(status.next);
    return [{ session, type: EventType.SESSION_RETRY, data, refs }];
  }
  return [];
}

/** The data of `session.created|updated|deleted` from an opencode Session. */
export function sessionInfoData(info: z.infer<typeof ocSessionSchema>): Record<string, unknown> {
  const data: Record<string, unknown> = { parent_session: info.parentID ?? null };
  if (info.title !== undefined) data.title = info.title;
  if (info.directory !== undefined) data.directory = info.directory;
  if (info.time?.created !== undefined) data.created_at = iso(info.time.created);
  return data;
}

/** The data of `permission.asked` from an opencode permission request (current or older shape). */
export function permissionAskedData(p: Record<string, unknown>): Record<string, unknown> | undefined {
  const perm = parse(ocPermissionSchema, p);
  if (perm === undefined) return undefined;
  const patterns =
    perm.patterns ?? (Array.isArray(perm.pattern) ? perm.pattern : perm.pattern ? [perm.pattern] : []);
  const data: Record<string, unknown> = {
    permission_id: perm.id,
    permission: perm.permission ?? str(p.action) ?? perm.type ?? 'unknown',
    patterns: patterns.length > 0 ? patterns : Array.isArray(p.resources) ? p.resources.map(String) : [],
  };
  const title = perm.title ?? str(perm.metadata?.description) ?? str(perm.metadata?.title);
  if (title !== undefined) data.title = title;
  if (perm.tool?.callID !== undefined) data.tool = perm.tool.callID;
  return data;
}

/**
 * The events a stored message (`GET /session/:id/message`) would have produced live: its final
 * parts, then `message.completed` for a finished assistant message. Used when the stream was down
 * while the message happened; what `state` says was already sent is skipped, so nothing doubles.
 */
export function storedMessageEvents(
  state: MapperState,
  message: OcMessage,
  refs: OpencodeRefs,
): MappedEvent[] {
  remember(state.roles, message.info.id, message.info.role);
  const out: MappedEvent[] = [];
  for (const part of message.parts) out.push(...partEvent(state, part, refs));
  out.push(...messageCompleted(state, message.info, refs));
  return out;
}

/**
 * Maps one opencode event to HAL events (none, one or a few). Pure but for `state`, which the
 * caller keeps per opencode server so duplicates (repeated message updates) collapse.
 */
export function mapOpencodeEvent(state: MapperState, ev: OcEvent): MappedEvent[] {
  if (isDroppedType(ev.type)) return [];
  const p = ev.properties;
  const session = sessionOf(p);
  const refs: OpencodeRefs = { type: ev.type };
  if (ev.id !== undefined) refs.event_id = ev.id;
  if (session !== null) refs.session_id = session;

  switch (ev.type) {
    case 'session.created':
    case 'session.updated':
    case 'session.deleted': {
      const info = parse(ocSessionSchema, p.info);
      if (info === undefined) break;
      const type =
        ev.type === 'session.created'
          ? EventType.SESSION_CREATED
          : ev.type === 'session.updated'
            ? EventType.SESSION_UPDATED
            : EventType.SESSION_DELETED;
      return [
        { session: info.id, type, data: sessionInfoData(info), refs: { ...refs, session_id: info.id } },
      ];
    }
    case 'session.status':
      return statusEvent(session, p.status, refs);
    case 'session.compacted':
      return [{ session, type: EventType.SESSION_COMPACTED, data: {}, refs }];
    case 'session.error': {
      const error = (p.error ?? {}) as Record<string, unknown>;
      const errData = (error.data ?? {}) as Record<string, unknown>;
      const data: Record<string, unknown> = { kind: str(error.name) ?? 'UnknownError' };
      const message = str(errData.message);
      if (message !== undefined) data.message = clip(message, 4096);
      if (typeof errData.statusCode === 'number') data.status_code = errData.statusCode;
      if (typeof errData.isRetryable === 'boolean') data.retryable = errData.isRetryable;
      return [{ session, type: EventType.SESSION_ERROR, data, refs }];
    }
    case 'message.updated': {
      const info = parse(ocMessageInfoSchema, p.info);
      return info === undefined ? [] : messageCompleted(state, info, refs);
    }
    case 'message.part.updated': {
      const part = parse(ocPartSchema, p.part);
      return part === undefined ? [] : partEvent(state, part, refs);
    }
    case 'permission.asked':
    case 'permission.updated':
    case 'permission.v2.asked': {
      const data = permissionAskedData(p);
      if (data === undefined) break;
      return [
        {
          session,
          type: EventType.PERMISSION_ASKED,
          data,
          refs: { ...refs, permission_id: String(data.permission_id) },
        },
      ];
    }
    case 'permission.replied':
    case 'permission.v2.replied': {
      const id = str(p.requestID) ?? str(p.permissionID);
      if (id === undefined) break;
      const response = str(p.reply) ?? str(p.response) ?? 'unknown';
      return [
        {
          session,
          type: EventType.PERMISSION_REPLIED,
          data: { permission_id: id, response },
          refs: { ...refs, permission_id: id },
        },
      ];
    }
    case 'question.asked':
    case 'question.v2.asked': {
      const id = str(p.id);
      if (id === undefined) break;
      const questions = Array.isArray(p.questions) ? p.questions : [];
      return [{ session, type: EventType.QUESTION_ASKED, data: { question_id: id, questions }, refs }];
    }
    case 'question.replied':
    case 'question.rejected':
    case 'question.v2.replied':
    case 'question.v2.rejected': {
      const id = str(p.requestID);
      if (id === undefined) break;
      const rejected = ev.type.endsWith('rejected');
      const data: Record<string, unknown> = { question_id: id, rejected };
      if (!rejected) data.answers = p.answers;
      return [{ session, type: EventType.QUESTION_REPLIED, data, refs }];
    }
    default:
      break;
  }
  return [{ session, type: rawType(ev.type), data: trimmedProperties(p), refs }];
}

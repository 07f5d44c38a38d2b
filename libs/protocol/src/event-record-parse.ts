import type { z } from 'zod';
import { type EventRecord, eventRecordSchema, MAX_SKEW_MS, SCHEMA_VERSION } from './events.ts';
import { findTooDeep, LIMITS } from './limits.ts';
import { fitsSubjectToken, isEventType } from './subjects.ts';

/**
 * `eventRecordSchema.safeParse`, fast for the records that are plainly valid.
 *
 * Every event crosses this on the gateway's hot path (and again in each consumer). zod's general
 * machinery (issue lists, a check pipeline per field, copies) cost about a third of the ingest
 * time, so the common case — a plain JSON object with exactly the schema's fields — is checked
 * here by hand, with the schema's own limits, refinements and regular expressions. Whatever this
 * path does not accept outright (any doubt: an unknown key, a wrong type, a prototype other than
 * Object's, a `__proto__` key) goes through zod, so a bad record gets zod's answer and its path.
 * The fast path accepts only what zod accepts and returns the same value (a test holds both to
 * it on valid and mutated records).
 */
export function parseEventRecord(raw: unknown): z.ZodSafeParseResult<EventRecord> {
  const fast = fastEventRecord(raw);
  return fast === undefined ? eventRecordSchema.safeParse(raw) : { success: true, data: fast };
}

/** The schema's own patterns, so both paths test ids and times alike. */
function patternOf(schema: unknown): RegExp | undefined {
  return (schema as { _zod?: { pattern?: RegExp } })._zod?.pattern;
}
const UUID = patternOf(eventRecordSchema.shape.id);
const DATETIME = patternOf(eventRecordSchema.shape.time);
const RECEIVED_AT = patternOf(eventRecordSchema.shape.received_at.unwrap());

/** The fields the fast path builds its output from, in the schema's order. */
const FIELDS = [
  'version',
  'id',
  'seq',
  'node',
  'project',
  'session',
  'type',
  'time',
  'data',
  'refs',
  'received_at',
  'host_skew_ms',
] as const;
const KEYS = new Set<string>(FIELDS);
/** A field added to the schema and not here turns the fast path off (zod decides), never wrong. */
const IN_STEP = Object.keys(eventRecordSchema.shape).join() === FIELDS.join();
const REF_KEYS = ['event_id', 'type', 'session_id', 'message_id', 'part_id', 'permission_id'] as const;
const REF_KEY_SET = new Set<string>(REF_KEYS);
const REF_CHARS = 256;

function isPlain(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    // Keys zod copies by assignment (or reads as a class): let zod decide them.
    !Object.hasOwn(value, '__proto__') &&
    !Object.hasOwn(value, 'constructor') &&
    Object.getOwnPropertySymbols(value).length === 0
  );
}

function isId(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length >= 1 &&
    value.length <= LIMITS.idChars &&
    fitsSubjectToken(value)
  );
}

function isTime(value: unknown, pattern: RegExp | undefined): value is string {
  return typeof value === 'string' && pattern !== undefined && pattern.test(value);
}

/** The record, or undefined when zod must judge it. */
function fastEventRecord(raw: unknown): EventRecord | undefined {
  if (!IN_STEP || !isPlain(raw)) return undefined;
  for (const key in raw) {
    // A present key holding undefined is zod's call too (optional vs default).
    if (!KEYS.has(key) || raw[key] === undefined) return undefined;
  }
  const { version, id, seq, node, project, session, type, time, data, refs, received_at, host_skew_ms } = raw;
  if (version !== undefined && version !== SCHEMA_VERSION) return undefined;
  if (typeof id !== 'string' || UUID === undefined || !UUID.test(id)) return undefined;
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) return undefined;
  if (!isId(node)) return undefined;
  if (typeof project !== 'string' || project.length > LIMITS.idChars || !fitsSubjectToken(project))
    return undefined;
  if (session !== null && !isId(session)) return undefined;
  if (typeof type !== 'string' || type.length > LIMITS.eventTypeChars || !isEventType(type)) return undefined;
  if (!isTime(time, DATETIME)) return undefined;
  if (data !== undefined && (!isPlain(data) || findTooDeep(data, LIMITS.dataDepth) !== undefined))
    return undefined;
  if (received_at !== undefined && !isTime(received_at, RECEIVED_AT)) return undefined;
  if (
    host_skew_ms !== undefined &&
    (typeof host_skew_ms !== 'number' ||
      !Number.isSafeInteger(host_skew_ms) ||
      Math.abs(host_skew_ms) > MAX_SKEW_MS)
  )
    return undefined;
  let refsOut: EventRecord['refs'];
  if (refs !== undefined) {
    if (!isPlain(refs)) return undefined;
    for (const key in refs) {
      const value = refs[key];
      if (!REF_KEY_SET.has(key) || typeof value !== 'string' || value.length > REF_CHARS) return undefined;
    }
    // zod's order: the schema's keys, present ones only.
    refsOut = {};
    for (const key of REF_KEYS) if (refs[key] !== undefined) refsOut[key] = refs[key] as string;
  }
  // zod's output: the schema's key order, defaults filled, `data` and `refs` copied.
  const event: EventRecord = {
    version: SCHEMA_VERSION,
    id,
    seq,
    node,
    project,
    session: session as string | null,
    type,
    time,
    data: data === undefined ? {} : { ...data },
  };
  if (refsOut !== undefined) event.refs = refsOut;
  if (received_at !== undefined) event.received_at = received_at;
  if (host_skew_ms !== undefined) event.host_skew_ms = host_skew_ms;
  return event;
}

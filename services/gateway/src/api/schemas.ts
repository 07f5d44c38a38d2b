import {
  auditRecordSchema,
  commandSchema,
  HANDOFF_WAIT_IDLE,
  handOffCommandSchema,
  LIMITS,
  sessionStateSchema,
  storedEventSchema,
  trackerQuerySchemas,
} from '@hal/protocol';
import { z } from 'zod';

// Schemas of the HTTP API that are not tracker queries. Query strings reuse the tracker's
// request schemas (strict: a misspelt filter is an error, not a silently ignored key).

export const idParams = z.strictObject({ id: z.string().min(1).max(LIMITS.idChars) });
export const permissionParams = z.strictObject({
  id: z.string().min(1).max(LIMITS.idChars),
  permissionId: z.string().min(1).max(256),
});

/**
 * A filter value of the SSE stream: it becomes a token of the consumer's subject filter (3 bytes
 * per escaped byte), so it is capped like an id — a viewer must not be able to make the API's
 * shared NATS connection send a subject nats-server answers by disconnecting it.
 */
const filter = z.string().max(LIMITS.filterChars);

export const nodesListQuery = trackerQuerySchemas.nodes_list.request.strict();
export const sessionsListQuery = z.strictObject({
  ...trackerQuerySchemas.sessions_list.request.shape,
  state: sessionStateSchema.optional(),
});
export const sessionLogsQuery = trackerQuerySchemas.sessions_logs.request.omit({ session: true }).strict();
export const eventsListQuery = trackerQuerySchemas.events_list.request.strict();
export const sessionEventsQuery = trackerQuerySchemas.events_list.request.omit({ session: true }).strict();

export const eventsStreamQuery = z.strictObject({
  node: filter.optional(),
  project: filter.optional(),
  session: filter.optional(),
  type: z.string().max(LIMITS.eventTypeChars).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  /** Resume point; the `Last-Event-ID` header wins when both are given. */
  after_seq: z.coerce.number().int().min(0).optional(),
});

export const auditListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  actor: z.string().min(1).max(LIMITS.filterChars).optional(),
  action: z.string().min(1).max(128).optional(),
});

const timeoutMs = z.number().int().min(100).max(600_000).optional();
// The agent's own limits on a prompt (commandSchema: [0] start, [1] inject), not a copy of them.
const optionalPrompt = commandSchema.options[0].shape.prompt;
const requiredPrompt = commandSchema.options[1].shape.prompt;

export const startSessionBody = z.strictObject({
  project: z.string().min(1).max(LIMITS.idChars),
  node: z.string().min(1).max(LIMITS.idChars).optional(),
  prompt: optionalPrompt,
  title: z.string().max(256).optional(),
  timeout_ms: timeoutMs,
});
export const injectBody = z.strictObject({ prompt: requiredPrompt, timeout_ms: timeoutMs });
export const resumeBody = z.strictObject({ prompt: optionalPrompt, timeout_ms: timeoutMs });
export const killBody = z.strictObject({ timeout_ms: timeoutMs });
/** `POST /api/v1/sessions/{id}/handoff`: the operator's note, and how long to wait for idle. */
export const handOffBody = z.strictObject({
  prompt: handOffCommandSchema.shape.prompt,
  wait_idle_seconds: z
    .number()
    .int()
    .min(0)
    .max(HANDOFF_WAIT_IDLE.maxMs / 1000)
    .optional(),
  timeout_ms: timeoutMs,
});
/** `POST /api/v1/projects/{project}/resume`: pick a project up again (halctl resume). */
export const resumeProjectBody = z.strictObject({
  node: z.string().min(1).max(LIMITS.idChars).optional(),
  prompt: optionalPrompt,
  timeout_ms: timeoutMs,
});
export const projectParams = z.strictObject({ project: z.string().min(1).max(LIMITS.idChars) });
export const permissionBody = z.strictObject({
  response: z.enum(['once', 'always', 'reject']),
  timeout_ms: timeoutMs,
});

/** `data` of a command route: whatever the agent answered. */
export const commandResultData = z.unknown();
export const auditListData = z.array(auditRecordSchema);
export const sseEventData = storedEventSchema.omit({ stream_seq: true });

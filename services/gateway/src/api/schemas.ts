import {
  auditRecordSchema,
  commandSchema,
  sessionStateSchema,
  storedEventSchema,
  trackerQuerySchemas,
} from '@hal/protocol';
import { z } from 'zod';

// Schemas of the HTTP API that are not tracker queries. Query strings reuse the tracker's
// request schemas (strict: a misspelt filter is an error, not a silently ignored key).

export const idParams = z.strictObject({ id: z.string().min(1).max(256) });
export const permissionParams = z.strictObject({
  id: z.string().min(1).max(256),
  permissionId: z.string().min(1).max(256),
});

export const nodesListQuery = trackerQuerySchemas.nodes_list.request.strict();
export const sessionsListQuery = z.strictObject({
  ...trackerQuerySchemas.sessions_list.request.shape,
  state: sessionStateSchema.optional(),
});
export const sessionLogsQuery = trackerQuerySchemas.sessions_logs.request.omit({ session: true }).strict();
export const eventsListQuery = trackerQuerySchemas.events_list.request.strict();
export const sessionEventsQuery = trackerQuerySchemas.events_list.request.omit({ session: true }).strict();

export const eventsStreamQuery = z.strictObject({
  node: z.string().optional(),
  project: z.string().optional(),
  session: z.string().optional(),
  type: z.string().optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  /** Resume point; the `Last-Event-ID` header wins when both are given. */
  after_seq: z.coerce.number().int().min(0).optional(),
});

export const auditListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(1000).default(50),
  actor: z.string().min(1).optional(),
  action: z.string().min(1).optional(),
});

const timeoutMs = z.number().int().min(100).max(600_000).optional();
// The agent's own limits on a prompt (commandSchema: [0] start, [1] inject), not a copy of them.
const optionalPrompt = commandSchema.options[0].shape.prompt;
const requiredPrompt = commandSchema.options[1].shape.prompt;

export const startSessionBody = z.strictObject({
  project: z.string().min(1).max(256),
  node: z.string().min(1).max(256).optional(),
  prompt: optionalPrompt,
  title: z.string().max(256).optional(),
  timeout_ms: timeoutMs,
});
export const injectBody = z.strictObject({ prompt: requiredPrompt, timeout_ms: timeoutMs });
export const resumeBody = z.strictObject({ prompt: optionalPrompt, timeout_ms: timeoutMs });
export const killBody = z.strictObject({ timeout_ms: timeoutMs });
export const permissionBody = z.strictObject({
  response: z.enum(['once', 'always', 'reject']),
  timeout_ms: timeoutMs,
});

/** `data` of a command route: whatever the agent answered. */
export const commandResultData = z.unknown();
export const auditListData = z.array(auditRecordSchema);
export const sseEventData = storedEventSchema.omit({ stream_seq: true });

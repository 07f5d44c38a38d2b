import { z } from 'zod';
import { findTooDeep, LIMITS } from './limits.ts';
import { fitsSubjectToken, isEventType } from './subjects.ts';

/**
 * Schema version of what HAL stores and passes on the bus (events, heartbeats, audit records,
 * notifications, command requests). It changes only when a stored shape changes incompatibly,
 * and is apart from the WebSocket protocol's version (`WIRE_PROTOCOL` in wire-protocol.ts).
 */
export const SCHEMA_VERSION = 1;

/** Largest clock skew a record may carry (ten years): beyond it a host's clock is not a clock. */
export const MAX_SKEW_MS = 10 * 365 * 24 * 3_600_000;

/** The event types HAL itself understands. Anything opencode sends that is not mapped travels as `opencode.<its type>`. */
export const EventType = {
  SESSION_CREATED: 'session.created',
  SESSION_UPDATED: 'session.updated',
  SESSION_DELETED: 'session.deleted',
  SESSION_BUSY: 'session.busy',
  SESSION_IDLE: 'session.idle',
  SESSION_RETRY: 'session.retry',
  SESSION_COMPACTED: 'session.compacted',
  SESSION_ERROR: 'session.error',
  /** The project's `.context/CURRENT_TASK.md` as the session's current task (context-task.ts). */
  SESSION_TASK: 'session.task',
  MESSAGE_COMPLETED: 'message.completed',
  MESSAGE_PART: 'message.part',
  PERMISSION_ASKED: 'permission.asked',
  PERMISSION_REPLIED: 'permission.replied',
  QUESTION_ASKED: 'question.asked',
  QUESTION_REPLIED: 'question.replied',
  AGENT_SPOOL_OVERFLOW: 'agent.spool_overflow',
  AGENT_OPENCODE_DOWN: 'agent.opencode_down',
  AGENT_OPENCODE_UP: 'agent.opencode_up',
  /** The agent dropped a record it could not send even after clipping (it would block its stream). */
  AGENT_EVENT_DROPPED: 'agent.event_dropped',
  NODE_ONLINE: 'node.online',
  NODE_OFFLINE: 'node.offline',
  NODE_SNAPSHOT: 'node.snapshot',
  /** A second agent instance claimed a live node id and was refused (an alert: two hosts share an id). */
  NODE_ID_CONFLICT: 'node.id_conflict',
  /** A node's clock is further from the control plane's than `alerts.clock_skew_seconds` (an alert). */
  NODE_CLOCK_SKEW: 'node.clock_skew',
  COMMAND_EXECUTED: 'command.executed',
  // A graceful hand-off (hand-off.ts), reported by the agent that runs it; `session` is the old one.
  HANDOFF_STARTED: 'handoff.started',
  HANDOFF_COMPLETED: 'handoff.completed',
  HANDOFF_FAILED: 'handoff.failed',
  POLICY_ACTION: 'policy.action',
  COST_BUDGET_WARNING: 'cost.budget_warning',
  COST_BUDGET_EXCEEDED: 'cost.budget_exceeded',
  COST_FORECAST_EXCEEDS_BUDGET: 'cost.forecast_exceeds_budget',
  // Host readiness (env-manifest.ts): reported by the agent about its own project directories.
  ENV_CHECK_PASS: 'env.check.pass',
  ENV_CHECK_FAIL: 'env.check.fail',
  ENV_DRIFT_DETECTED: 'env.drift.detected',
  ENV_PROVISION_COMPLETE: 'env.provision.complete',
  ENV_PROVISION_MANUAL_REQUIRED: 'env.provision.manual_required',
  ENV_MILESTONE: 'env.milestone',
  AGENTMD_UPDATED: 'agentmd.updated',
  /** A node reported a session that belongs to another node; the gateway refused it (an alert). */
  SECURITY_SESSION_CONFLICT: 'security.session_conflict',
} as const;
export type EventType = (typeof EventType)[keyof typeof EventType];

/**
 * The `node` of events the control plane itself emits when they concern no host (a fleet
 * budget, a policy decision about a project). Agents may not use it: the gateway rejects it.
 */
export const SYSTEM_NODE = 'control-plane';

/** Prefix of events that carry an opencode event HAL does not interpret (`opencode.file.edited`). */
export const RAW_OPENCODE_PREFIX = 'opencode.';

export const SessionState = {
  STARTING: 'starting',
  RUNNING: 'running',
  IDLE: 'idle',
  WAITING_INPUT: 'waiting_input',
  COMPACTED: 'compacted',
  ERROR: 'error',
  COMPLETED: 'completed',
  KILLED: 'killed',
  UNREACHABLE: 'unreachable',
} as const;
export type SessionState = (typeof SessionState)[keyof typeof SessionState];
export const sessionStateSchema = z.enum(Object.values(SessionState) as [SessionState, ...SessionState[]]);

const TOKEN_MESSAGE = `is too long once escaped for a NATS subject (at most ${LIMITS.idTokenBytes} bytes; about ${LIMITS.idChars} ASCII characters)`;

/** A node id, session id: 1-256 characters that also fit one subject token once escaped. */
export const idSchema = z.string().min(1).max(LIMITS.idChars).refine(fitsSubjectToken, TOKEN_MESSAGE);
/** A project name; '' on events that concern no project. */
export const projectNameSchema = z.string().max(LIMITS.idChars).refine(fitsSubjectToken, TOKEN_MESSAGE);

/**
 * Free-form JSON from a host, nested at most LIMITS.dataDepth deep. Checked before anything
 * serialises it: `JSON.stringify` of a 6,000-level object overflows the stack.
 */
export function boundedJson<T extends z.ZodType>(schema: T) {
  return schema.superRefine((value, ctx) => {
    const path = findTooDeep(value, LIMITS.dataDepth);
    if (path !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: path.slice(0, LIMITS.dataDepth + 1).map((p) => (typeof p === 'symbol' ? String(p) : p)),
        message: `nested deeper than ${LIMITS.dataDepth} levels`,
        params: { limit: 'dataDepth' },
      });
    }
  });
}
const id = idSchema;

/** The opencode ids an event concerns, so anyone can trace it back to opencode. */
export const opencodeRefsSchema = z
  .object({
    event_id: z.string().max(256).optional(),
    type: z.string().max(256).optional(),
    session_id: z.string().max(256).optional(),
    message_id: z.string().max(256).optional(),
    part_id: z.string().max(256).optional(),
    permission_id: z.string().max(256).optional(),
  })
  .strict();
export type OpencodeRefs = z.infer<typeof opencodeRefsSchema>;

/**
 * One event, as the agent spools it, the gateway publishes it and every consumer reads it.
 * `id` is the JetStream `Nats-Msg-Id` (dedup); `seq` orders one agent's events.
 * `project` is '' and `session` null for events that concern the node itself.
 */
export const eventRecordSchema = z
  .object({
    version: z.literal(SCHEMA_VERSION).default(SCHEMA_VERSION),
    id: z.uuid(),
    seq: z.number().int().nonnegative(),
    node: id,
    project: projectNameSchema,
    session: id.nullable(),
    type: z
      .string()
      .max(LIMITS.eventTypeChars)
      .refine(isEventType, 'must be lowercase words separated by dots, like "session.idle"'),
    /** When it happened by the clock of whoever wrote it: the host's for agent events. For display. */
    time: z.iso.datetime({ offset: true }),
    data: boundedJson(z.record(z.string(), z.unknown())).default({}),
    refs: opencodeRefsSchema.optional(),
    /**
     * When the gateway accepted it, by the control plane's clock. Stamped by the gateway, never by
     * an agent (it refuses a record that carries it); absent from records stored before it
     * existed and from the control plane's own events. `controlPlaneTime()` reads it.
     */
    received_at: z.iso.datetime({ offset: true }).optional(),
    /**
     * The sending node's clock minus the control plane's, in ms, as the gateway measured it when
     * it accepted the record (stamped with `received_at`): corrects the host `time` of a backlog.
     */
    host_skew_ms: z.number().int().min(-MAX_SKEW_MS).max(MAX_SKEW_MS).optional(),
  })
  .strict();
export type EventRecord = z.infer<typeof eventRecordSchema>;
export type EventRecordInput = z.input<typeof eventRecordSchema>;

// ---- data of the event types that services interpret -------------------------------------

const nonNegInt = z.number().int().nonnegative();

export const tokenUsageSchema = z.object({
  input: nonNegInt.default(0),
  output: nonNegInt.default(0),
  reasoning: nonNegInt.default(0),
  cache_read: nonNegInt.default(0),
  cache_write: nonNegInt.default(0),
});
export type TokenUsage = z.infer<typeof tokenUsageSchema>;

export const sessionInfoDataSchema = z.object({
  title: z.string().optional(),
  directory: z.string().optional(),
  parent_session: z.string().nullable().optional(),
  created_at: z.string().optional(),
});

export const sessionRetryDataSchema = z.object({
  attempt: nonNegInt.optional(),
  message: z.string().optional(),
  /** When opencode retries the provider (ISO time), e.g. at a usage-limit reset. */
  next_at: z.string().optional(),
});

/**
 * opencode's error name for a prompt that was aborted — what a `kill` (or a restart) produces. It
 * is HAL or a person stopping the session, never the session failing.
 */
export const MESSAGE_ABORTED_ERROR = 'MessageAbortedError';

export const sessionErrorDataSchema = z.object({
  /** opencode's error name: ProviderAuthError, APIError, ContextOverflowError, MESSAGE_ABORTED_ERROR, … */
  kind: z.string(),
  message: z.string().optional(),
  status_code: z.number().int().optional(),
  retryable: z.boolean().optional(),
  /** For usage/rate limits: when the provider says the limit resets (ISO time). */
  reset_at: z.string().optional(),
});

export const messageCompletedDataSchema = z.object({
  message_id: z.string(),
  model: z.string(),
  provider: z.string(),
  tokens: tokenUsageSchema,
  /** USD as reported by opencode; 0 when opencode does not know the model's price. */
  cost_usd: z.number().nonnegative(),
  finish: z.string().optional(),
  error: z.string().optional(),
});

export const messagePartDataSchema = z.object({
  message_id: z.string(),
  part_id: z.string(),
  role: z.enum(['user', 'assistant']).default('assistant'),
  part_type: z.string(),
  text: z.string().optional(),
  tool: z.string().optional(),
  tool_status: z.string().optional(),
  tool_input: z.unknown().optional(),
  tool_output: z.string().optional(),
});

export const permissionAskedDataSchema = z.object({
  permission_id: z.string(),
  permission: z.string(),
  patterns: z.array(z.string()).default([]),
  title: z.string().optional(),
  tool: z.string().optional(),
});

export const permissionRepliedDataSchema = z.object({
  permission_id: z.string(),
  response: z.string(),
});

/** A question opencode asks the person (its `question` tool): the session waits for the answer. */
export const questionAskedDataSchema = z.object({
  question_id: z.string().min(1).max(256),
  /** opencode's question objects, passed through for the people who answer them. */
  questions: z.array(z.unknown()).max(100).default([]),
});

/** A question answered (`answers`) or dismissed (`rejected: true`). */
export const questionRepliedDataSchema = z.object({
  question_id: z.string().min(1).max(256),
  rejected: z.boolean().default(false),
  answers: z.unknown().optional(),
});

export const nodeOnlineDataSchema = z.object({
  agent_version: z.string(),
  projects: z.array(z.object({ name: z.string(), directory: z.string() })),
  gateway: z.string(),
});

export const nodeOfflineDataSchema = z.object({
  reason: z.enum(['socket_closed', 'heartbeat_timeout', 'replaced', 'gateway_stopped']),
  gateway: z.string().optional(),
});

/** `node.clock_skew`: published once each time a node's skew crosses the threshold. */
export const nodeClockSkewDataSchema = z.object({
  /** The node's clock minus the control plane's, ms (positive: the host is ahead). */
  skew_ms: z.number().int(),
  threshold_seconds: z.number().positive(),
  gateway: z.string(),
  severity: z.literal('warning'),
});

/** One session as the agent sees it after a (re)connect. */
export const sessionSnapshotSchema = z.object({
  session: idSchema,
  project: projectNameSchema,
  state: sessionStateSchema,
  title: z.string().max(1024).optional(),
  directory: z.string().max(4096).optional(),
  tokens: tokenUsageSchema.optional(),
  cost_usd: z.number().nonnegative().optional(),
  model: z.string().max(256).optional(),
  updated_at: z.string().max(64).optional(),
  pending_permissions: z.array(z.string().max(256)).max(1000).optional(),
});
export type SessionSnapshot = z.infer<typeof sessionSnapshotSchema>;

export const nodeSnapshotDataSchema = z.object({ sessions: z.array(sessionSnapshotSchema) });

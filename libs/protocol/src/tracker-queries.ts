import { z } from 'zod';
import { envDriftSchema, envResultSchema } from './env-results.ts';
import { eventRecordSchema, sessionStateSchema, tokenUsageSchema } from './events.ts';
import { LIMITS } from './limits.ts';

/** Queries the tracker answers on `hal.q.tracker.<query>` (queue group `hal-tracker`). */
export const TrackerQuery = {
  NODES_LIST: 'nodes_list',
  NODES_GET: 'nodes_get',
  SESSIONS_LIST: 'sessions_list',
  SESSIONS_GET: 'sessions_get',
  SESSIONS_LOGS: 'sessions_logs',
  SESSIONS_SUMMARY: 'sessions_summary',
  EVENTS_LIST: 'events_list',
  ENV_STATUS: 'env_status',
  ENV_DRIFT: 'env_drift',
} as const;
export type TrackerQuery = (typeof TrackerQuery)[keyof typeof TrackerQuery];

export const NodeStatus = { ONLINE: 'online', OFFLINE: 'offline' } as const;
export type NodeStatus = (typeof NodeStatus)[keyof typeof NodeStatus];

export const nodeViewSchema = z.object({
  node: z.string(),
  status: z.enum(['online', 'offline']),
  gateway: z.string().nullable(),
  agent_version: z.string().nullable(),
  projects: z.array(z.object({ name: z.string(), directory: z.string() })),
  last_heartbeat_at: z.string().nullable(),
  online_since: z.string().nullable(),
  resources: z
    .object({
      load: z.array(z.number()),
      mem_total_bytes: z.number(),
      mem_free_bytes: z.number(),
      disk_total_bytes: z.number().optional(),
      disk_free_bytes: z.number().optional(),
      opencode_ok: z.boolean(),
      spool_depth: z.number(),
    })
    .nullable(),
  sessions: z.number().int().nonnegative(),
  /**
   * The node's clock minus the control plane's (ms) at its last heartbeat, as its gateway measured
   * it; null before one (or from a tracker older than the field). Policies never use a host clock.
   */
  clock_skew_ms: z.number().nullable().default(null),
});
export type NodeView = z.infer<typeof nodeViewSchema>;

export const sessionViewSchema = z.object({
  session: z.string(),
  node: z.string(),
  project: z.string(),
  state: sessionStateSchema,
  title: z.string().nullable(),
  model: z.string().nullable(),
  provider: z.string().nullable(),
  /** The first user prompt: what the session was asked to do. */
  current_task: z.string().nullable(),
  tokens: tokenUsageSchema,
  cost_usd: z.number(),
  compactions: z.number().int().nonnegative(),
  errors: z.number().int().nonnegative(),
  last_error: z.string().nullable(),
  pending_permissions: z.array(z.string()),
  started_at: z.string().nullable(),
  last_activity_at: z.string().nullable(),
  /** When the session entered its current state (the time of the event that moved it). */
  state_since: z.string().nullable(),
  /** The session this one was restarted from (a hand-off), and the one restarted from it. */
  previous_session: z.string().nullable(),
  next_session: z.string().nullable(),
});
export type SessionView = z.infer<typeof sessionViewSchema>;

export const logEntrySchema = z.object({
  stream_seq: z.number().int().nonnegative(),
  time: z.string(),
  message_id: z.string(),
  part_id: z.string(),
  role: z.enum(['user', 'assistant']),
  kind: z.string(),
  text: z.string().nullable(),
  tool: z.string().nullable(),
  tool_status: z.string().nullable(),
});
export type LogEntry = z.infer<typeof logEntrySchema>;

/** An event as stored in HAL_EVENTS, with its stream sequence (the SSE `id`). */
export const storedEventSchema = eventRecordSchema.extend({ stream_seq: z.number().int().positive() });
export type StoredEvent = z.infer<typeof storedEventSchema>;

/** The latest environment check of one node × project, and the risky fixes waiting for an approval. */
export const envStatusViewSchema = envResultSchema.extend({ pending_approval: z.array(z.string()) });
export type EnvStatusView = z.infer<typeof envStatusViewSchema>;

/** One drifted file of one node × project, from its latest check. */
export const envDriftViewSchema = envDriftSchema.extend({
  node: z.string(),
  project: z.string(),
  checked_at: z.string(),
});

const limit = (max: number, def: number) => z.coerce.number().int().min(1).max(max).default(def);
/** A filter value from a person or script (query strings reach here unchanged). */
const filter = z.string().max(LIMITS.filterChars);
const required = filter.min(1);

export const trackerQuerySchemas = {
  nodes_list: {
    request: z.object({ status: z.enum(['online', 'offline']).optional() }),
    response: z.object({ nodes: z.array(nodeViewSchema) }),
  },
  nodes_get: {
    request: z.object({ node: required }),
    response: nodeViewSchema,
  },
  sessions_list: {
    request: z.object({
      node: filter.optional(),
      project: filter.optional(),
      state: sessionStateSchema.optional(),
      /** Words that the title, the session id or the task contains (case-insensitive). */
      q: z.string().trim().max(200).optional(),
      limit: limit(500, 50),
      /** Opaque, from `next_cursor` of the previous page. */
      cursor: z.string().max(2048).optional(),
    }),
    response: z.object({
      sessions: z.array(sessionViewSchema),
      next_cursor: z.string().nullable(),
      total: z.number(),
    }),
  },
  sessions_get: {
    request: z.object({ session: required }),
    response: sessionViewSchema,
  },
  sessions_logs: {
    request: z.object({
      session: required,
      limit: limit(5000, 500),
      after_seq: z.coerce.number().int().min(0).optional(),
    }),
    response: z.object({ entries: z.array(logEntrySchema) }),
  },
  sessions_summary: {
    request: z.object({}),
    response: z.object({
      total: z.number().int().nonnegative(),
      /** Every state, 0 included. */
      by_state: z.record(sessionStateSchema, z.number().int().nonnegative()),
    }),
  },
  events_list: {
    request: z.object({
      node: filter.optional(),
      project: filter.optional(),
      session: filter.optional(),
      /** Exact type or glob (`session.*`). */
      type: z.string().max(LIMITS.eventTypeChars).optional(),
      since: z.iso.datetime({ offset: true }).optional(),
      after_seq: z.coerce.number().int().min(0).optional(),
      limit: limit(1000, 100),
    }),
    response: z.object({ events: z.array(storedEventSchema), next_after_seq: z.number().nullable() }),
  },
  env_status: {
    request: z.object({
      node: z.string().optional(),
      project: z.string().optional(),
      status: z.enum(['ready', 'degraded', 'missing']).optional(),
    }),
    response: z.object({ results: z.array(envStatusViewSchema) }),
  },
  env_drift: {
    request: z.object({ node: z.string().optional(), project: z.string().optional() }),
    response: z.object({ drift: z.array(envDriftViewSchema) }),
  },
} as const satisfies Record<TrackerQuery, { request: z.ZodType; response: z.ZodType }>;

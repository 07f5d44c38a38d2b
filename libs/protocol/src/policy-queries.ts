import { z } from 'zod';
import { commandSchema } from './commands.ts';
import { isEventType } from './subjects.ts';

/** Queries the policy service answers on `hal.q.policy.<query>` (queue group `hal-policy`). */
export const PolicyQuery = {
  LIST: 'list',
  ENABLE: 'enable',
  DISABLE: 'disable',
  ROUTES_TEST: 'routes_test',
  DRY_RUN: 'dry_run',
} as const;
export type PolicyQuery = (typeof PolicyQuery)[keyof typeof PolicyQuery];

export const PolicyDecision = {
  ACTED: 'acted',
  SKIPPED: 'skipped',
  DRY_RUN: 'dry_run',
  FAILED: 'failed',
} as const;
export type PolicyDecision = (typeof PolicyDecision)[keyof typeof PolicyDecision];

/** `data` of a `policy.action` event: one decision of one policy, acted on or not. */
export const policyActionDataSchema = z.object({
  policy: z.string(),
  decision: z.enum(['acted', 'skipped', 'dry_run', 'failed']),
  /** Why, in words people read ("idle for 312 s", "retry cap 3 reached within 3600 s"). */
  reason: z.string(),
  command: commandSchema.optional(),
  /** What the command returned, or its error. */
  result: z
    .object({
      ok: z.boolean(),
      data: z.unknown().optional(),
      code: z.string().optional(),
      message: z.string().optional(),
    })
    .optional(),
  /** Set on decisions people must hear about: the router sends them to `alerts`. */
  severity: z.enum(['info', 'warning', 'critical']).optional(),
  /** A short alert title when the decision is an alert. */
  alert: z.string().optional(),
});
export type PolicyActionData = z.infer<typeof policyActionDataSchema>;

export const policyActionRecordSchema = policyActionDataSchema.extend({
  /** The decision's id (its `policy.action` event's); absent on records older than it. */
  id: z.string().optional(),
  time: z.string(),
  node: z.string(),
  project: z.string(),
  session: z.string().nullable(),
});
export type PolicyActionRecord = z.infer<typeof policyActionRecordSchema>;

export const policyViewSchema = z.object({
  name: z.string(),
  enabled: z.boolean(),
  /** `override` when enable/disable was used; it wins over the config until changed again. */
  enabled_source: z.enum(['config', 'override']),
  dry_run: z.boolean(),
  config: z.record(z.string(), z.unknown()),
  /** Newest first. */
  recent_actions: z.array(policyActionRecordSchema),
});
export type PolicyView = z.infer<typeof policyViewSchema>;

const toggle = {
  request: z.object({
    name: z.string().min(1).max(64),
    /** Who asked, for the service's own log; the caller writes the audit record. */
    by: z.string().max(256).optional(),
  }),
  response: policyViewSchema,
};

/** An event as `routes test` takes it: what is not given gets a neutral value. */
export const routesTestRequestSchema = z.object({
  type: z.string().min(1).max(128).refine(isEventType, 'must be an event type like "session.idle"'),
  node: z.string().min(1).max(256).default('test-node'),
  project: z.string().max(256).default(''),
  session: z.string().min(1).max(256).nullable().default(null),
  data: z.record(z.string(), z.unknown()).default({}),
});

const conditionCheckSchema = z.object({
  condition: z.enum(['state_for_seconds', 'cost_today_usd', 'count']),
  expected: z.string(),
  actual: z.string(),
  holds: z.boolean(),
});

/** Each route, in order, and why it would or would not notify for the event now. */
export const routesTestResponseSchema = z.object({
  severity: z.enum(['info', 'warning', 'critical']),
  /** Targets notified now, each once. */
  fires: z.array(z.string()),
  /** Targets that would be notified once a duration is reached. */
  waits: z.array(z.string()),
  rules: z.array(
    z.object({
      index: z.number().int().nonnegative(),
      match: z.string(),
      target: z.string(),
      where: z.record(z.string(), z.string()).optional(),
      when: z.record(z.string(), z.unknown()).optional(),
      outcome: z.enum(['fires', 'waits', 'no']),
      reason: z.string(),
      checks: z.array(conditionCheckSchema),
    }),
  ),
});
export type RoutesTestResponse = z.infer<typeof routesTestResponseSchema>;

export const policyQuerySchemas = {
  list: {
    request: z.object({}),
    response: z.object({ policies: z.array(policyViewSchema) }),
  },
  enable: toggle,
  disable: toggle,
  routes_test: { request: routesTestRequestSchema, response: routesTestResponseSchema },
  /** Decide but do not act (or act again); persists and overrides the config like enable/disable. */
  dry_run: {
    request: toggle.request.extend({ dry_run: z.boolean() }),
    response: policyViewSchema,
  },
} as const satisfies Record<PolicyQuery, { request: z.ZodType; response: z.ZodType }>;

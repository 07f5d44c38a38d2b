import { z } from 'zod';
import { commandSchema } from './commands.ts';

/** Queries the policy service answers on `hal.q.policy.<query>` (queue group `hal-policy`). */
export const PolicyQuery = {
  LIST: 'list',
  ENABLE: 'enable',
  DISABLE: 'disable',
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
    name: z.string().min(1),
    /** Who asked, for the service's own log; the caller writes the audit record. */
    by: z.string().max(256).optional(),
  }),
  response: policyViewSchema,
};

export const policyQuerySchemas = {
  list: {
    request: z.object({}),
    response: z.object({ policies: z.array(policyViewSchema) }),
  },
  enable: toggle,
  disable: toggle,
} as const satisfies Record<PolicyQuery, { request: z.ZodType; response: z.ZodType }>;

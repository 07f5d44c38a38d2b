import { Severity } from '@hal/protocol';
import { z } from 'zod';
import type { ConfigProblem } from './config-error.ts';

/**
 * `policies`, `routes` and `webhooks` of the supervisor config. Kept in their own file so the
 * policy service can extend them (new thresholds, new policies) in one place.
 */
export const PolicyName = {
  RESUME_ON_IDLE: 'resume_on_idle',
  RESTART_ON_COMPACTION: 'restart_on_compaction',
  KILL_ON_COST: 'kill_on_cost',
  RESUME_AFTER_LIMIT: 'resume_after_limit',
  ERROR_LOOP: 'error_loop',
  ESCALATE_WAITING_INPUT: 'escalate_waiting_input',
  NODE_OFFLINE: 'node_offline',
  PROVISION_ON_CONNECT: 'provision_on_connect',
  START_DEPENDENTS: 'start_dependents',
} as const;
export type PolicyName = (typeof PolicyName)[keyof typeof PolicyName];

interface CommonDefaults {
  enabled: boolean;
  max_retries: number;
  retry_reset_seconds: number;
  cooldown_seconds: number;
}

/** The knobs every policy has; each policy picks its own defaults. */
function commonShape(d: CommonDefaults) {
  return {
    enabled: z.boolean().default(d.enabled),
    max_retries: z.number().int().nonnegative().default(d.max_retries),
    retry_reset_seconds: z.number().int().nonnegative().default(d.retry_reset_seconds),
    cooldown_seconds: z.number().int().nonnegative().default(d.cooldown_seconds),
    dry_run: z.boolean().default(false),
  };
}

const seconds = (value: number) => z.number().int().positive().default(value);

// Policies that act on sessions start disabled: nobody should find their agents resumed or
// killed by a default. Policies that only alert start enabled.
export const resumeOnIdleSchema = z.strictObject({
  ...commonShape({ enabled: false, max_retries: 3, retry_reset_seconds: 3600, cooldown_seconds: 60 }),
  idle_threshold_seconds: seconds(300),
  prompt: z.string().min(1).default('Continue with the task. If it is finished, say so and stop.'),
});

export const restartOnCompactionSchema = z.strictObject({
  ...commonShape({ enabled: false, max_retries: 1, retry_reset_seconds: 3600, cooldown_seconds: 300 }),
  compactions: z.number().int().positive().default(2),
  token_threshold: z.number().int().positive().optional(),
  handoff_prompt: z
    .string()
    .min(1)
    .default('You are taking over a session that ran out of context. Continue the task below.'),
});

export const killOnCostSchema = z.strictObject({
  ...commonShape({ enabled: false, max_retries: 1, retry_reset_seconds: 86400, cooldown_seconds: 0 }),
  /** Absent: act on the cost budgets' events only. */
  cost_threshold_usd: z.number().finite().positive().optional(),
  action: z.enum(['kill', 'pause']).default('kill'),
});

export const resumeAfterLimitSchema = z.strictObject({
  ...commonShape({ enabled: false, max_retries: 3, retry_reset_seconds: 86400, cooldown_seconds: 0 }),
  fallback_seconds: seconds(900),
  prompt: z.string().min(1).default('The usage limit has reset. Continue with the task.'),
});

export const errorLoopSchema = z.strictObject({
  ...commonShape({ enabled: true, max_retries: 1, retry_reset_seconds: 3600, cooldown_seconds: 600 }),
  errors: z.number().int().positive().default(5),
  window_seconds: seconds(600),
});

export const escalateWaitingInputSchema = z.strictObject({
  ...commonShape({ enabled: true, max_retries: 1, retry_reset_seconds: 3600, cooldown_seconds: 900 }),
  after_seconds: seconds(300),
});

export const nodeOfflineSchema = z.strictObject({
  ...commonShape({ enabled: true, max_retries: 1, retry_reset_seconds: 3600, cooldown_seconds: 900 }),
  after_seconds: seconds(120),
});

/**
 * When an agent connects, send it the manifest of its projects: `provision` applies the safe
 * fixes (files in the project, opencode's env file) and reports what waits for approval;
 * `check` only reports. On by default: the spec makes safe fixes automatic.
 */
export const provisionOnConnectSchema = z.strictObject({
  ...commonShape({ enabled: true, max_retries: 1, retry_reset_seconds: 3600, cooldown_seconds: 0 }),
  action: z.enum(['provision', 'check']).default('provision'),
  /** How long the agent may take for all of a node's projects. */
  timeout_seconds: seconds(120),
});

/**
 * When a project marks a milestone done (`- [x] milestone: <name>` in `.context/PROGRESS.md`),
 * start or prompt the projects whose `dependencies` name it — at most once per milestone and
 * dependent. `auto` prompts an idle session of the dependent when there is one, else starts one.
 */
export const startDependentsSchema = z.strictObject({
  ...commonShape({ enabled: false, max_retries: 1, retry_reset_seconds: 86400, cooldown_seconds: 0 }),
  action: z.enum(['auto', 'start', 'prompt']).default('auto'),
  /** `{project}`, `{dependency}` and `{milestone}` are replaced. */
  prompt: z
    .string()
    .min(1)
    .default(
      'Project {dependency} reached the milestone "{milestone}", which {project} depends on. Read .context/PROGRESS.md and .context/CURRENT_TASK.md, then continue the work that waited for it.',
    ),
});

/** Strict: an unknown policy name is a mistake, not a silently ignored section. */
export const policiesSchema = z
  .strictObject({
    resume_on_idle: resumeOnIdleSchema.prefault({}),
    restart_on_compaction: restartOnCompactionSchema.prefault({}),
    kill_on_cost: killOnCostSchema.prefault({}),
    resume_after_limit: resumeAfterLimitSchema.prefault({}),
    error_loop: errorLoopSchema.prefault({}),
    escalate_waiting_input: escalateWaitingInputSchema.prefault({}),
    node_offline: nodeOfflineSchema.prefault({}),
    provision_on_connect: provisionOnConnectSchema.prefault({}),
    start_dependents: startDependentsSchema.prefault({}),
  })
  .prefault({});

/** `discord#<route>` or `webhook#<name>`. */
export const ROUTE_TARGET_PATTERN = /^(discord|webhook)#([A-Za-z0-9_-]+)$/;

/** A number compared: `{"gte": 300}`, `{"gt": 20}`, `{"gte": 3, "lt": 10}`. */
export const numberComparisonSchema = z
  .strictObject({
    gt: z.number().finite().optional(),
    gte: z.number().finite().optional(),
    lt: z.number().finite().optional(),
    lte: z.number().finite().optional(),
    eq: z.number().finite().optional(),
  })
  .refine((c) => Object.values(c).some((v) => v !== undefined), {
    message: 'needs a comparison: gt, gte, lt, lte or eq',
  });
export type NumberComparison = z.output<typeof numberComparisonSchema>;

/** What a `count` condition counts over: the matching events of one session, node, project, or all. */
export const CountScope = { SESSION: 'session', NODE: 'node', PROJECT: 'project', FLEET: 'fleet' } as const;
export type CountScope = (typeof CountScope)[keyof typeof CountScope];

/**
 * Typed conditions on facts the control plane already has; every one given must hold.
 * - `state_for_seconds`: how long the session (or node) has been in the state the event
 *   announced (`session.idle` → idle). The notification waits until it holds, and is dropped
 *   when the state changes first.
 * - `cost_today_usd`: the event's project's spend today (UTC; the fleet's without a project).
 * - `count`: events this rule matched in the last `window_seconds`, this one included, per
 *   session (default when the event has one), node, project or the whole fleet.
 */
export const routeConditionSchema = z.strictObject({
  state_for_seconds: numberComparisonSchema.optional(),
  cost_today_usd: numberComparisonSchema.optional(),
  count: z
    .strictObject({
      window_seconds: z
        .number()
        .int()
        .positive()
        .max(7 * 86_400),
      per: z.enum(['session', 'node', 'project', 'fleet']).optional(),
      gt: z.number().int().nonnegative().optional(),
      gte: z.number().int().nonnegative().optional(),
      lt: z.number().int().positive().optional(),
      lte: z.number().int().nonnegative().optional(),
      eq: z.number().int().nonnegative().optional(),
    })
    .refine((c) => [c.gt, c.gte, c.lt, c.lte, c.eq].some((v) => v !== undefined), {
      message: 'needs a comparison: gt, gte, lt, lte or eq',
    })
    .optional(),
});

/** Event types that announce a state whose duration `state_for_seconds` can measure. */
export const STATEFUL_EVENT_TYPES = [
  'session.idle',
  'session.busy',
  'permission.asked',
  'question.asked',
  'node.offline',
] as const;

export const routeRuleSchema = z.strictObject({
  /** A glob on the event type: `session.error`, `cost.*`, `*`. */
  match: z
    .string()
    .regex(
      /^(?:[a-z0-9_]+|\*)(?:\.(?:[a-z0-9_]+|\*))*$/,
      'must be an event type or a glob on one, like "session.error", "cost.*" or "*"',
    ),
  where: z
    .strictObject({
      node: z.string().min(1).optional(),
      project: z.string().min(1).optional(),
      severity: z.enum([Severity.INFO, Severity.WARNING, Severity.CRITICAL]).optional(),
    })
    .optional(),
  /** Conditions on facts (durations, today's cost, counts in a window); all must hold. */
  when: routeConditionSchema.optional(),
  target: z.string().regex(ROUTE_TARGET_PATTERN, 'must be "discord#<route>" or "webhook#<name>"'),
});

/** Errors, waiting-for-input, budget, node and security alerts to `alerts`; session lifecycle to `dev-log`. */
export const DEFAULT_ROUTES: readonly RouteRule[] = [
  { match: 'session.error', target: 'discord#alerts' },
  { match: 'permission.asked', target: 'discord#alerts' },
  { match: 'question.asked', target: 'discord#alerts' },
  { match: 'cost.*', target: 'discord#alerts' },
  { match: 'node.offline', target: 'discord#alerts' },
  { match: 'node.id_conflict', target: 'discord#alerts' },
  { match: 'node.clock_skew', target: 'discord#alerts' },
  { match: 'policy.action', where: { severity: Severity.CRITICAL }, target: 'discord#alerts' },
  { match: 'env.provision.manual_required', target: 'discord#alerts' },
  // Refused forgeries: a node reporting another node's session.
  { match: 'security.*', target: 'discord#alerts' },
  { match: 'session.created', target: 'discord#dev-log' },
  { match: 'session.idle', target: 'discord#dev-log' },
  { match: 'session.compacted', target: 'discord#dev-log' },
  { match: 'session.deleted', target: 'discord#dev-log' },
  { match: 'env.milestone', target: 'discord#dev-log' },
];

export const routesSchema = z.array(routeRuleSchema).default(() => DEFAULT_ROUTES.map((r) => ({ ...r })));

export const webhookSchema = z.strictObject({
  url: z.url({ protocol: /^https?$/ }),
  headers: z.record(z.string().min(1), z.string()).optional(),
});

export const webhooksSchema = z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), webhookSchema).default({});

export type PoliciesConfig = z.output<typeof policiesSchema>;
export type RouteRule = z.output<typeof routeRuleSchema>;
export type WebhookConfig = z.output<typeof webhookSchema>;

/**
 * Routes pointing at nothing: checked on the raw input apart from the schema, so an unknown
 * target is reported together with every other mistake rather than after they are fixed.
 */
export function routeTargetProblems(raw: unknown): ConfigProblem[] {
  if (!isRecord(raw) || !Array.isArray(raw.routes)) return [];
  const webhooks = isRecord(raw.webhooks) ? raw.webhooks : {};
  const discord = isRecord(raw.channels) && isRecord(raw.channels.discord) ? raw.channels.discord : undefined;
  const discordRoutes = discord && isRecord(discord.channels) ? discord.channels : {};
  const problems: ConfigProblem[] = [];
  raw.routes.forEach((rule, i) => {
    if (!isRecord(rule) || typeof rule.target !== 'string') return;
    const m = ROUTE_TARGET_PATTERN.exec(rule.target);
    if (!m) return;
    const [, kind, name] = m;
    const path = `routes[${i}].target`;
    if (kind === 'webhook' && !Object.hasOwn(webhooks, name as string)) {
      problems.push({
        path,
        message: `unknown target "${rule.target}": no webhooks.${name} is configured, so these notifications would go nowhere`,
      });
    }
    if (kind === 'discord' && discord && !Object.hasOwn(discordRoutes, name as string)) {
      problems.push({
        path,
        message: `unknown target "${rule.target}": channels.discord.channels has no "${name}" route, so these notifications would go nowhere`,
      });
    }
  });
  return problems;
}

/** `*` in a route glob matches any run of characters (the router's rule). */
function globRegExp(pattern: string): RegExp {
  return new RegExp(
    `^${pattern
      .split('*')
      .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*')}$`,
  );
}

/**
 * `state_for_seconds` on a route whose match can never be a state event would never fire:
 * reported with its key path, like every other mistake.
 */
export function routeConditionProblems(raw: unknown): ConfigProblem[] {
  if (!isRecord(raw) || !Array.isArray(raw.routes)) return [];
  const problems: ConfigProblem[] = [];
  raw.routes.forEach((rule, i) => {
    if (!isRecord(rule) || typeof rule.match !== 'string' || !isRecord(rule.when)) return;
    if (rule.when.state_for_seconds === undefined) return;
    const re = globRegExp(rule.match);
    if (!STATEFUL_EVENT_TYPES.some((t) => re.test(t))) {
      problems.push({
        path: `routes[${i}].when.state_for_seconds`,
        message: `"${rule.match}" never matches an event that starts a state (${STATEFUL_EVENT_TYPES.join(', ')}), so this route would never fire`,
      });
    }
  });
  return problems;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

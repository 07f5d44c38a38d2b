import { z } from 'zod';
import { tokenUsageSchema } from './events.ts';

/** Queries the cost service answers on `hal.q.cost.<query>` (queue group `hal-cost`). */
export const CostQuery = {
  REPORT: 'report',
  BUDGETS: 'budgets',
} as const;
export type CostQuery = (typeof CostQuery)[keyof typeof CostQuery];

export const CostGroupBy = {
  PROVIDER: 'provider',
  MODEL: 'model',
  PROJECT: 'project',
  NODE: 'node',
  SESSION: 'session',
} as const;
export type CostGroupBy = (typeof CostGroupBy)[keyof typeof CostGroupBy];
const groupByValues = Object.values(CostGroupBy) as [CostGroupBy, ...CostGroupBy[]];

export const CostPeriod = { TODAY: 'today', WEEK: 'week', MONTH: 'month', CUSTOM: 'custom' } as const;
export type CostPeriod = (typeof CostPeriod)[keyof typeof CostPeriod];

/** Provider-side project that no `cost.projects` mapping claims: reported, never dropped. */
export const UNATTRIBUTED_PROJECT = 'unattributed';
/** Longest custom range one report may cover. */
export const MAX_REPORT_DAYS = 366;

const day = z.iso.date();

/** `group_by` arrives as an array (NATS) or a comma list (HTTP query `group_by=provider,model`). */
const groupBySchema = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').filter((s) => s !== '') : v),
  z.array(z.enum(groupByValues)).max(groupByValues.length),
);

export const costReportRequestSchema = z
  .object({
    period: z.enum(['today', 'week', 'month', 'custom']).default('today'),
    from: day.optional(),
    to: day.optional(),
    group_by: groupBySchema.default([]),
  })
  .superRefine((r, ctx) => {
    if (new Set(r.group_by).size !== r.group_by.length) {
      ctx.addIssue({ code: 'custom', path: ['group_by'], message: 'group_by lists a field twice' });
    }
    if (r.period !== 'custom') {
      if (r.from !== undefined || r.to !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['from'],
          message: 'from/to are only allowed with period=custom',
        });
      }
      return;
    }
    if (r.from === undefined || r.to === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [r.from === undefined ? 'from' : 'to'],
        message: 'period=custom needs from and to (YYYY-MM-DD)',
      });
      return;
    }
    if (r.from > r.to) ctx.addIssue({ code: 'custom', path: ['to'], message: 'to must not be before from' });
    const days = (Date.parse(r.to) - Date.parse(r.from)) / 86_400_000 + 1;
    if (days > MAX_REPORT_DAYS) {
      ctx.addIssue({
        code: 'custom',
        path: ['to'],
        message: `a report covers at most ${MAX_REPORT_DAYS} days`,
      });
    }
  });
export type CostReportRequest = z.output<typeof costReportRequestSchema>;

const usd = z.number();

export const costRowSchema = z.object({
  key: z.object({
    provider: z.string().optional(),
    model: z.string().optional(),
    project: z.string().optional(),
    node: z.string().optional(),
    session: z.string().optional(),
  }),
  /** Spend seen in session events (opencode's cost, or estimated). */
  observed_usd: usd,
  /** The part of observed_usd estimated from `cost.model_rates`. */
  estimated_usd: usd,
  /** What the provider billed; null when the grouping (node, session) has no billed counterpart. */
  billed_usd: usd.nullable(),
  tokens: tokenUsageSchema,
  messages: z.number().int().nonnegative(),
});

export const reconciliationSchema = z.object({
  provider: z.string(),
  project: z.string(),
  billed_usd: usd,
  observed_usd: usd,
  /** billed − observed. */
  difference_usd: usd,
});

export const providerStatusSchema = z.object({
  provider: z.string(),
  state: z.enum(['ok', 'degraded', 'unknown']),
  reason: z.string().nullable(),
  last_success_at: z.string().nullable(),
});
export type ProviderStatus = z.infer<typeof providerStatusSchema>;

export const costReportSchema = z.object({
  period: z.enum(['today', 'week', 'month', 'custom']),
  from: day,
  to: day,
  group_by: z.array(z.enum(groupByValues)),
  totals: z.object({
    observed_usd: usd,
    estimated_usd: usd,
    billed_usd: usd,
    tokens: tokenUsageSchema,
    messages: z.number().int().nonnegative(),
  }),
  rows: z.array(costRowSchema),
  reconciliation: z.array(reconciliationSchema),
  /** One entry per day of the range, for bar charts. */
  days: z.array(z.object({ day, observed_usd: usd, billed_usd: usd })),
  providers: z.array(providerStatusSchema),
});
export type CostReport = z.infer<typeof costReportSchema>;

export const budgetStateSchema = z.enum(['ok', 'warning', 'exceeded']);

export const budgetViewSchema = z.object({
  name: z.string(),
  scope: z.enum(['session', 'project', 'fleet']),
  period: z.enum(['day', 'month']),
  period_key: z.string(),
  project: z.string().nullable(),
  provider: z.string().nullable(),
  limit_usd: usd,
  /** For session budgets: the spend of the session closest to its limit. */
  spent_usd: usd,
  share: z.number(),
  state: budgetStateSchema,
  burn_rate_usd_per_hour: usd.nullable(),
  forecast_usd: usd.nullable(),
  forecast_exceeds: z.boolean(),
  /** Session budgets: sessions at or above the warning share, highest first. */
  sessions: z.array(
    z.object({
      session: z.string(),
      node: z.string(),
      project: z.string(),
      spent_usd: usd,
      share: z.number(),
      state: budgetStateSchema,
    }),
  ),
});
export type BudgetView = z.infer<typeof budgetViewSchema>;

export const costQuerySchemas = {
  report: { request: costReportRequestSchema, response: costReportSchema },
  budgets: { request: z.object({}), response: z.object({ budgets: z.array(budgetViewSchema) }) },
} as const satisfies Record<CostQuery, { request: z.ZodType; response: z.ZodType }>;

import { z } from 'zod';
import { secretSchema } from './log-level.ts';

/**
 * `cost.*` of the supervisor config. Kept in its own file so the cost-poller can extend it
 * (new providers, budget kinds) without touching the rest of the schema.
 */
export const CostProvider = { ANTHROPIC: 'anthropic', OPENAI: 'openai' } as const;
export type CostProvider = (typeof CostProvider)[keyof typeof CostProvider];

export const costProviderSchema = z.strictObject({
  admin_api_key: secretSchema,
  base_url: z.url({ protocol: /^https?$/ }).optional(),
});

/** Maps one provider-side id (workspace, project or API key) to a HAL project name. */
export const costProjectMappingSchema = z.strictObject({
  provider: z.enum([CostProvider.ANTHROPIC, CostProvider.OPENAI]),
  kind: z.enum(['workspace', 'project', 'api_key']),
  id: z.string().min(1),
  project: z.string().min(1),
});

/** USD per million tokens. */
export const modelRateSchema = z.strictObject({
  input: z.number().finite().nonnegative(),
  output: z.number().finite().nonnegative(),
  cache_read: z.number().finite().nonnegative().default(0),
  cache_write: z.number().finite().nonnegative().default(0),
});

export const BudgetScope = { SESSION: 'session', PROJECT: 'project', FLEET: 'fleet' } as const;
export type BudgetScope = (typeof BudgetScope)[keyof typeof BudgetScope];

export const budgetSchema = z
  .strictObject({
    name: z.string().min(1),
    /**
     * What one budget counts: each session alone, one project, or the whole fleet. Absent = `project`
     * when `project` is set, else `fleet` (the meaning budgets had before scopes existed).
     */
    scope: z.enum([BudgetScope.SESSION, BudgetScope.PROJECT, BudgetScope.FLEET]).optional(),
    /** For `session` budgets the period is the session's whole life; day/month still name it in events. */
    period: z.enum(['day', 'month']).default('month'),
    limit_usd: z.number().finite().positive(),
    /** Absent = every project / provider. */
    project: z.string().min(1).optional(),
    provider: z.enum([CostProvider.ANTHROPIC, CostProvider.OPENAI]).optional(),
  })
  .transform((b) => ({
    ...b,
    scope: b.scope ?? (b.project === undefined ? BudgetScope.FLEET : BudgetScope.PROJECT),
  }))
  .refine((b) => b.scope !== BudgetScope.PROJECT || b.project !== undefined, {
    message: 'a budget with scope "project" needs "project": the project it limits',
    path: ['project'],
  })
  .refine((b) => b.scope !== BudgetScope.FLEET || b.project === undefined, {
    message: 'a budget with scope "fleet" counts every project: remove "project" or use scope "project"',
    path: ['project'],
  });

export const costConfigSchema = z
  .strictObject({
    // Fractions allowed (0.5 = every 30 s): a test runs several cycles in seconds.
    poll_interval_minutes: z.number().positive().default(60),
    providers: z
      .strictObject({
        anthropic: costProviderSchema.optional(),
        openai: costProviderSchema.optional(),
      })
      .prefault({}),
    projects: z.array(costProjectMappingSchema).default([]),
    model_rates: z.record(z.string().min(1), modelRateSchema).default({}),
    budgets: z
      .array(budgetSchema)
      .default([])
      // The name keys the "already warned this period" records: two budgets sharing one would mute each other.
      .superRefine((budgets, ctx) => {
        const seen = new Set<string>();
        budgets.forEach((b, i) => {
          if (seen.has(b.name)) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `budget name "${b.name}" is used twice`,
            });
          }
          seen.add(b.name);
        });
      }),
    warn_share: z.number().gt(0).lte(1).default(0.8),
    /** Publish `cost.forecast_exceeds_budget` when the projected spend breaks a budget. */
    forecast: z.boolean().default(true),
    /** Days re-polled each cycle (today included): providers revise recent buckets late. */
    repoll_days: z.number().int().min(1).max(31).default(3),
  })
  .prefault({});

export type CostConfig = z.output<typeof costConfigSchema>;
export type CostProviderConfig = z.output<typeof costProviderSchema>;
export type CostProjectMapping = z.output<typeof costProjectMappingSchema>;

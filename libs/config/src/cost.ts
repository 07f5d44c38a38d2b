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

export const budgetSchema = z.strictObject({
  name: z.string().min(1),
  period: z.enum(['day', 'month']).default('month'),
  limit_usd: z.number().finite().positive(),
  /** Absent = every project / provider. */
  project: z.string().min(1).optional(),
  provider: z.enum([CostProvider.ANTHROPIC, CostProvider.OPENAI]).optional(),
});

export const costConfigSchema = z
  .strictObject({
    poll_interval_minutes: z.number().int().positive().default(60),
    providers: z
      .strictObject({
        anthropic: costProviderSchema.optional(),
        openai: costProviderSchema.optional(),
      })
      .prefault({}),
    projects: z.array(costProjectMappingSchema).default([]),
    model_rates: z.record(z.string().min(1), modelRateSchema).default({}),
    budgets: z.array(budgetSchema).default([]),
    warn_share: z.number().gt(0).lte(1).default(0.8),
  })
  .prefault({});

export type CostConfig = z.output<typeof costConfigSchema>;
export type CostProviderConfig = z.output<typeof costProviderSchema>;
export type CostProjectMapping = z.output<typeof costProjectMappingSchema>;
export type ModelRate = z.output<typeof modelRateSchema>;
export type Budget = z.output<typeof budgetSchema>;

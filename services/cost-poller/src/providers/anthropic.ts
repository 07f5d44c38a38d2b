import type { CostProviderConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { z } from 'zod';
import { decimalToMicros } from '../money.ts';
import { type FetchFn, fetchAllPages, type RetryPolicy, type SleepFn } from './provider-http.ts';
import {
  DAY_MS,
  type DayRange,
  dayOf,
  dayStartMs,
  inRange,
  type ProviderClient,
  type ProviderReport,
} from './report-rows.ts';

export const ANTHROPIC_BASE_URL = 'https://api.anthropic.com';
export const ANTHROPIC_VERSION = '2023-06-01';
/** `1d` buckets allow at most 31 per page. */
const DAY_BUCKET_LIMIT = 31;

const tokens = z.number().int().nonnegative();
const optionalId = z.string().nullish();

// Objects are not strict: Anthropic adds fields (service_tier, inference_geo, …) and a new one must
// not stop billing. What we sum must be exactly the right type, though: a wrong one rejects the page.
const usageResultSchema = z.object({
  uncached_input_tokens: tokens,
  cache_creation: z
    .object({ ephemeral_1h_input_tokens: tokens.default(0), ephemeral_5m_input_tokens: tokens.default(0) })
    .nullish(),
  cache_read_input_tokens: tokens.default(0),
  output_tokens: tokens,
  model: optionalId,
  workspace_id: optionalId,
  api_key_id: optionalId,
});

const centsSchema = z
  .string()
  .refine((v) => decimalToMicros(v, -2) !== undefined, 'must be a non-negative decimal string of cents');

const costResultSchema = z.object({
  amount: centsSchema,
  currency: z.string().refine((c) => c.toUpperCase() === 'USD', 'only USD amounts are supported'),
  description: z.string().nullish(),
  cost_type: z.string().nullish(),
  token_type: z.string().nullish(),
  model: optionalId,
  workspace_id: optionalId,
});

function pageSchema<R extends z.ZodType>(result: R) {
  return z.object({
    data: z.array(
      z.object({
        starting_at: z.iso.datetime({ offset: true }),
        ending_at: z.iso.datetime({ offset: true }),
        results: z.array(result),
      }),
    ),
    has_more: z.boolean(),
    next_page: z.string().nullish(),
  });
}

const usagePageSchema = pageSchema(usageResultSchema);
const costPageSchema = pageSchema(costResultSchema);

export interface AnthropicClientDeps {
  config: CostProviderConfig;
  fetch: FetchFn;
  sleep: SleepFn;
  log: Logger;
  retry?: RetryPolicy;
}

/** The Admin API usage and cost reports (`/v1/organizations/usage_report/messages`, `/cost_report`). */
export function createAnthropicClient(deps: AnthropicClientDeps): ProviderClient {
  const base = deps.config.base_url ?? ANTHROPIC_BASE_URL;
  const headers = {
    'x-api-key': deps.config.admin_api_key,
    'anthropic-version': ANTHROPIC_VERSION,
    accept: 'application/json',
  };

  function reportUrl(path: string, range: DayRange, groupBy: string[]): URL {
    const url = new URL(path, base);
    url.searchParams.set('starting_at', new Date(dayStartMs(range.from)).toISOString());
    url.searchParams.set('ending_at', new Date(dayStartMs(range.to) + DAY_MS).toISOString());
    url.searchParams.set('bucket_width', '1d');
    for (const g of groupBy) url.searchParams.append('group_by[]', g);
    url.searchParams.set('limit', String(DAY_BUCKET_LIMIT));
    return url;
  }

  const common = { provider: 'anthropic', fetch: deps.fetch, sleep: deps.sleep, log: deps.log, headers };
  const withRetry = deps.retry === undefined ? {} : { retry: deps.retry };

  return {
    provider: 'anthropic',
    async fetchReport(range) {
      const usageBuckets = await fetchAllPages({
        ...common,
        ...withRetry,
        url: reportUrl('/v1/organizations/usage_report/messages', range, [
          'model',
          'workspace_id',
          'api_key_id',
        ]),
        pageSchema: usagePageSchema,
      });
      const costBuckets = await fetchAllPages({
        ...common,
        ...withRetry,
        url: reportUrl('/v1/organizations/cost_report', range, ['workspace_id', 'description']),
        pageSchema: costPageSchema,
      });
      const report: ProviderReport = { usage: [], cost: [] };
      for (const bucket of usageBuckets) {
        const day = dayOf(Date.parse(bucket.starting_at));
        if (!inRange(day, range)) continue;
        for (const r of bucket.results) {
          report.usage.push({
            day,
            model: r.model ?? '',
            scopeId: r.workspace_id ?? '',
            apiKeyId: r.api_key_id ?? '',
            input: r.uncached_input_tokens,
            output: r.output_tokens,
            cacheRead: r.cache_read_input_tokens,
            cacheWrite:
              (r.cache_creation?.ephemeral_1h_input_tokens ?? 0) +
              (r.cache_creation?.ephemeral_5m_input_tokens ?? 0),
            requests: 0,
          });
        }
      }
      for (const bucket of costBuckets) {
        const day = dayOf(Date.parse(bucket.starting_at));
        if (!inRange(day, range)) continue;
        for (const r of bucket.results) {
          report.cost.push({
            day,
            model: r.model ?? '',
            scopeId: r.workspace_id ?? '',
            lineItem: r.description ?? [r.cost_type, r.token_type].filter(Boolean).join(':'),
            // Validated above: amount is a decimal string of cents.
            micros: decimalToMicros(r.amount, -2) ?? 0,
          });
        }
      }
      return report;
    },
  };
}

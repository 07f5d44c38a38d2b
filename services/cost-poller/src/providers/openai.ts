import type { CostProviderConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { z } from 'zod';
import { usdNumberToMicros } from '../money.ts';
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

export const OPENAI_BASE_URL = 'https://api.openai.com';
/** `1d` usage buckets allow at most 31 per page (costs allow 180; 31 keeps one rule). */
const DAY_BUCKET_LIMIT = 31;

const tokens = z.number().int().nonnegative();
const optionalId = z.string().nullish();

// Not strict: OpenAI adds fields; a new one must not stop billing. Summed fields must be exact types.
const usageResultSchema = z
  .object({
    input_tokens: tokens,
    output_tokens: tokens,
    input_cached_tokens: tokens.default(0),
    num_model_requests: tokens.default(0),
    project_id: optionalId,
    api_key_id: optionalId,
    model: optionalId,
  })
  .refine((r) => r.input_cached_tokens <= r.input_tokens, {
    message: 'input_cached_tokens exceeds input_tokens',
    path: ['input_cached_tokens'],
  });

const costResultSchema = z.object({
  amount: z.object({
    value: z
      .number()
      .refine((v) => usdNumberToMicros(v) !== undefined, 'must be a non-negative finite number of dollars'),
    currency: z.string().refine((c) => c.toLowerCase() === 'usd', 'only USD amounts are supported'),
  }),
  line_item: z.string().nullish(),
  project_id: optionalId,
});

function pageSchema<R extends z.ZodType>(result: R) {
  return z.object({
    object: z.literal('page'),
    data: z.array(
      z.object({
        start_time: z.number().int().nonnegative(),
        end_time: z.number().int().nonnegative(),
        results: z.array(result),
      }),
    ),
    has_more: z.boolean(),
    next_page: z.string().nullish(),
  });
}

const usagePageSchema = pageSchema(usageResultSchema);
const costPageSchema = pageSchema(costResultSchema);

/** Line items read "gpt-4o-2024-08-06, input": the model is the part before the comma. */
function modelOfLineItem(lineItem: string | null | undefined): string {
  if (!lineItem) return '';
  const i = lineItem.indexOf(', ');
  return i > 0 ? lineItem.slice(0, i) : '';
}

export interface OpenAIClientDeps {
  config: CostProviderConfig;
  fetch: FetchFn;
  sleep: SleepFn;
  log: Logger;
  retry?: RetryPolicy;
}

/** The organization usage (`/v1/organization/usage/completions`) and costs (`/v1/organization/costs`) APIs. */
export function createOpenAIClient(deps: OpenAIClientDeps): ProviderClient {
  const base = deps.config.base_url ?? OPENAI_BASE_URL;
  const headers = { authorization: `Bearer ${deps.config.admin_api_key}`, accept: 'application/json' };

  function reportUrl(path: string, range: DayRange, groupBy: string[]): URL {
    const url = new URL(path, base);
    url.searchParams.set('start_time', String(dayStartMs(range.from) / 1000));
    url.searchParams.set('end_time', String((dayStartMs(range.to) + DAY_MS) / 1000));
    url.searchParams.set('bucket_width', '1d');
    for (const g of groupBy) url.searchParams.append('group_by[]', g);
    url.searchParams.set('limit', String(DAY_BUCKET_LIMIT));
    return url;
  }

  const common = { provider: 'openai', fetch: deps.fetch, sleep: deps.sleep, log: deps.log, headers };
  const withRetry = deps.retry === undefined ? {} : { retry: deps.retry };

  return {
    provider: 'openai',
    async fetchReport(range) {
      const usageBuckets = await fetchAllPages({
        ...common,
        ...withRetry,
        url: reportUrl('/v1/organization/usage/completions', range, ['model', 'project_id', 'api_key_id']),
        pageSchema: usagePageSchema,
      });
      const costBuckets = await fetchAllPages({
        ...common,
        ...withRetry,
        url: reportUrl('/v1/organization/costs', range, ['project_id', 'line_item']),
        pageSchema: costPageSchema,
      });
      const report: ProviderReport = { usage: [], cost: [] };
      for (const bucket of usageBuckets) {
        const day = dayOf(bucket.start_time * 1000);
        if (!inRange(day, range)) continue;
        for (const r of bucket.results) {
          report.usage.push({
            day,
            model: r.model ?? '',
            scopeId: r.project_id ?? '',
            apiKeyId: r.api_key_id ?? '',
            input: r.input_tokens - r.input_cached_tokens,
            output: r.output_tokens,
            cacheRead: r.input_cached_tokens,
            cacheWrite: 0,
            requests: r.num_model_requests,
          });
        }
      }
      for (const bucket of costBuckets) {
        const day = dayOf(bucket.start_time * 1000);
        if (!inRange(day, range)) continue;
        for (const r of bucket.results) {
          report.cost.push({
            day,
            model: modelOfLineItem(r.line_item),
            scopeId: r.project_id ?? '',
            lineItem: r.line_item ?? '',
            micros: usdNumberToMicros(r.amount.value) ?? 0,
          });
        }
      }
      return report;
    },
  };
}

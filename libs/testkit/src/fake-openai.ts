import {
  addDecimal,
  bucketDays,
  type FakeProviderBase,
  groupByOf,
  groupEntries,
  pageOf,
  startFakeProviderServer,
} from './fake-provider-server.ts';

/** One day of completions usage for one model × project × API key. */
export interface FakeOpenAIUsage {
  day: string;
  model: string;
  project_id?: string | null;
  api_key_id?: string | null;
  /** Includes the cached tokens, as in the real API. */
  input_tokens: number;
  output_tokens: number;
  input_cached_tokens?: number;
  num_model_requests?: number;
}

/** One day of cost: `value` in dollars (a JSON number in the real API). */
export interface FakeOpenAICost {
  day: string;
  value: number;
  project_id?: string | null;
  line_item?: string | null;
}

export interface FakeOpenAIData {
  usage: FakeOpenAIUsage[];
  cost: FakeOpenAICost[];
}

export interface StartFakeOpenAIOptions {
  /** The admin key accepted as `Authorization: Bearer <key>`; anything else gets a 401. */
  adminKey?: string;
  pageSize?: number;
  now?: () => number;
  extraFields?: boolean;
  data?: FakeOpenAIData;
}

export interface FakeOpenAI extends FakeProviderBase {
  setData(data: FakeOpenAIData): void;
  revise(day: string, data: Partial<FakeOpenAIData>): void;
}

const USAGE_GROUPS = ['project_id', 'user_id', 'api_key_id', 'model', 'batch', 'service_tier'] as const;
const COST_GROUPS = ['project_id', 'line_item'] as const;

/** A fake of OpenAI's organization usage/costs endpoints with their real response shapes. */
export async function startFakeOpenAI(opts: StartFakeOpenAIOptions = {}): Promise<FakeOpenAI> {
  const adminKey = opts.adminKey ?? 'sk-admin-test';
  const now = opts.now ?? Date.now;
  // Copied: revise() must never reach back into the caller's fixture.
  let data: FakeOpenAIData = { usage: [...(opts.data?.usage ?? [])], cost: [...(opts.data?.cost ?? [])] };
  const extra = (o: Record<string, unknown>) =>
    opts.extraFields === true ? { ...o, future_field: [1, 2] } : o;

  function page(
    query: URLSearchParams,
    maxLimit: number,
    build: (day: string) => Array<Record<string, unknown>>,
  ) {
    const start = Number(query.get('start_time')) * 1000;
    const endParam = query.get('end_time');
    const end = endParam === null ? start + 7 * 86_400_000 : Number(endParam) * 1000;
    const days = bucketDays(start, end, now());
    const limit = Math.min(
      Number(query.get('limit') ?? 7),
      maxLimit,
      opts.pageSize ?? Number.POSITIVE_INFINITY,
    );
    const p = pageOf(days, query.get('page'), limit);
    return {
      object: 'page',
      data: p.items.map((day) => {
        const startTime = Date.parse(`${day}T00:00:00Z`) / 1000;
        return extra({
          object: 'bucket',
          start_time: startTime,
          end_time: startTime + 86_400,
          results: build(day),
        });
      }),
      has_more: p.next !== null,
      next_page: p.next,
    };
  }

  const base = await startFakeProviderServer({
    authorized: (h) => h.authorization === `Bearer ${adminKey}`,
    unauthorizedBody: {
      error: {
        message: 'Incorrect API key provided.',
        type: 'invalid_request_error',
        param: null,
        code: 'invalid_api_key',
      },
    },
    errorBody: (status, message) => ({
      error: {
        message,
        type: status === 429 ? 'rate_limit_exceeded' : 'server_error',
        param: null,
        code: null,
      },
    }),
    handle(path, query) {
      if (!/^\d+$/.test(query.get('start_time') ?? '')) {
        return {
          status: 400,
          body: { error: { message: "Missing query parameter 'start_time'", type: 'invalid_request_error' } },
        };
      }
      const groupBy = groupByOf(query);
      if (path === '/v1/organization/usage/completions') {
        return {
          status: 200,
          body: page(query, 31, (day) =>
            groupEntries(
              data.usage.filter((u) => u.day === day) as unknown as Array<Record<string, unknown>>,
              USAGE_GROUPS,
              groupBy,
              (row, e) => {
                const u = e as unknown as FakeOpenAIUsage;
                const add = (k: string, v: number) => {
                  row[k] = ((row[k] as number | undefined) ?? 0) + v;
                };
                row.object = 'organization.usage.completions.result';
                add('input_tokens', u.input_tokens);
                add('output_tokens', u.output_tokens);
                add('input_cached_tokens', u.input_cached_tokens ?? 0);
                add('input_audio_tokens', 0);
                add('output_audio_tokens', 0);
                add('num_model_requests', u.num_model_requests ?? 1);
              },
            ).map(extra),
          ),
        };
      }
      if (path === '/v1/organization/costs') {
        return {
          status: 200,
          body: page(query, 180, (day) =>
            groupEntries(
              data.cost.filter((c) => c.day === day) as unknown as Array<Record<string, unknown>>,
              COST_GROUPS,
              groupBy,
              (row, e) => {
                const c = e as unknown as FakeOpenAICost;
                const prev = (row.amount as { value: number } | undefined)?.value ?? 0;
                row.object = 'organization.costs.result';
                row.amount = { value: Number(addDecimal(String(prev), String(c.value))), currency: 'usd' };
              },
            ).map(extra),
          ),
        };
      }
      return undefined;
    },
    corrupt(body, kind) {
      const results = (body as { data: Array<{ results: Array<Record<string, unknown>> }> }).data.flatMap(
        (b) => b.results,
      );
      const first = results[0];
      if (first === undefined) return false;
      if ('amount' in first) {
        (first.amount as Record<string, unknown>).value = kind === 'negative' ? -1.5 : 'twelve';
      } else {
        first.output_tokens = kind === 'negative' ? -5 : 'many';
      }
      return true;
    },
  });

  return {
    ...base,
    setData(next) {
      data = { usage: [...next.usage], cost: [...next.cost] };
    },
    revise(day, next) {
      if (next.usage !== undefined) data.usage = [...data.usage.filter((u) => u.day !== day), ...next.usage];
      if (next.cost !== undefined) data.cost = [...data.cost.filter((c) => c.day !== day), ...next.cost];
    },
  };
}

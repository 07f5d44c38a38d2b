import {
  addDecimal,
  bucketDays,
  type FakeProviderBase,
  groupByOf,
  groupEntries,
  pageOf,
  startFakeProviderServer,
} from './fake-provider-server.ts';

/** One day of Messages usage for one model × workspace × API key. */
export interface FakeAnthropicUsage {
  day: string;
  model: string;
  workspace_id?: string | null;
  api_key_id?: string | null;
  uncached_input_tokens: number;
  output_tokens: number;
  cache_read_input_tokens?: number;
  cache_creation_5m?: number;
  cache_creation_1h?: number;
}

/** One day of cost: `amount` is a decimal string of cents, as the real cost_report sends it. */
export interface FakeAnthropicCost {
  day: string;
  amount: string;
  workspace_id?: string | null;
  description?: string | null;
  model?: string | null;
  cost_type?: string;
  token_type?: string | null;
}

export interface FakeAnthropicData {
  usage: FakeAnthropicUsage[];
  cost: FakeAnthropicCost[];
}

export interface StartFakeAnthropicOptions {
  /** The admin key accepted in `x-api-key`; anything else gets a 401. */
  adminKey?: string;
  /** At most this many buckets per page, whatever `limit` asks (to exercise paging). */
  pageSize?: number;
  /** The fake's "now": buckets stop at its day, which is partial. Default Date.now. */
  now?: () => number;
  /** Add fields the client does not know to every object (they must be tolerated). */
  extraFields?: boolean;
  data?: FakeAnthropicData;
}

export interface FakeAnthropic extends FakeProviderBase {
  setData(data: FakeAnthropicData): void;
  /** Replaces what one day holds, like a late revision of yesterday. */
  revise(day: string, data: Partial<FakeAnthropicData>): void;
}

const USAGE_GROUPS = ['model', 'workspace_id', 'api_key_id'] as const;
const COST_GROUPS = ['workspace_id', 'description'] as const;

/** A fake of Anthropic's Admin usage/cost report endpoints with their real response shapes. */
export async function startFakeAnthropic(opts: StartFakeAnthropicOptions = {}): Promise<FakeAnthropic> {
  const adminKey = opts.adminKey ?? 'sk-ant-admin01-test';
  const now = opts.now ?? Date.now;
  // Copied: revise() must never reach back into the caller's fixture.
  let data: FakeAnthropicData = { usage: [...(opts.data?.usage ?? [])], cost: [...(opts.data?.cost ?? [])] };
  const extra = (o: Record<string, unknown>) =>
    opts.extraFields === true ? { ...o, future_field: { x: 1 } } : o;

  function buckets(query: URLSearchParams, build: (day: string) => Array<Record<string, unknown>>) {
    const start = Date.parse(query.get('starting_at') ?? '');
    const endParam = query.get('ending_at');
    const end = endParam === null ? start + 7 * 86_400_000 : Date.parse(endParam);
    const days = bucketDays(start, end, now());
    const limit = Math.min(Number(query.get('limit') ?? 7), opts.pageSize ?? Number.POSITIVE_INFINITY);
    const page = pageOf(days, query.get('page'), limit);
    return {
      data: page.items.map((day) =>
        extra({
          starting_at: `${day}T00:00:00Z`,
          ending_at: new Date(Date.parse(`${day}T00:00:00Z`) + 86_400_000).toISOString().replace('.000', ''),
          results: build(day),
        }),
      ),
      has_more: page.next !== null,
      next_page: page.next,
    };
  }

  const base = await startFakeProviderServer({
    authorized: (h) => h['x-api-key'] === adminKey && h['anthropic-version'] === '2023-06-01',
    unauthorizedBody: {
      type: 'error',
      error: { type: 'authentication_error', message: 'invalid x-api-key' },
    },
    errorBody: (status, message) => ({
      type: 'error',
      error: { type: status === 429 ? 'rate_limit_error' : 'api_error', message },
    }),
    handle(path, query) {
      if (Number.isNaN(Date.parse(query.get('starting_at') ?? ''))) {
        return {
          status: 400,
          body: { type: 'error', error: { type: 'invalid_request_error', message: 'starting_at: required' } },
        };
      }
      const groupBy = groupByOf(query);
      if (path === '/v1/organizations/usage_report/messages') {
        return {
          status: 200,
          body: buckets(query, (day) =>
            groupEntries(
              data.usage.filter((u) => u.day === day) as unknown as Array<Record<string, unknown>>,
              USAGE_GROUPS,
              groupBy,
              (row, e) => {
                const u = e as unknown as FakeAnthropicUsage;
                const add = (k: string, v: number) => {
                  row[k] = ((row[k] as number | undefined) ?? 0) + v;
                };
                add('uncached_input_tokens', u.uncached_input_tokens);
                add('cache_read_input_tokens', u.cache_read_input_tokens ?? 0);
                add('output_tokens', u.output_tokens);
                const cc = (row.cache_creation as Record<string, number> | undefined) ?? {
                  ephemeral_1h_input_tokens: 0,
                  ephemeral_5m_input_tokens: 0,
                };
                cc.ephemeral_1h_input_tokens =
                  (cc.ephemeral_1h_input_tokens ?? 0) + (u.cache_creation_1h ?? 0);
                cc.ephemeral_5m_input_tokens =
                  (cc.ephemeral_5m_input_tokens ?? 0) + (u.cache_creation_5m ?? 0);
                row.cache_creation = cc;
                row.server_tool_use = { web_search_requests: 0 };
                row.service_tier = null;
                row.context_window = null;
              },
            ).map(extra),
          ),
        };
      }
      if (path === '/v1/organizations/cost_report') {
        return {
          status: 200,
          body: buckets(query, (day) =>
            groupEntries(
              data.cost.filter((c) => c.day === day) as unknown as Array<Record<string, unknown>>,
              COST_GROUPS,
              groupBy,
              (row, e) => {
                const c = e as unknown as FakeAnthropicCost;
                row.amount = addDecimal((row.amount as string | undefined) ?? '0', c.amount);
                row.currency = 'USD';
                // With description grouped, the real report fills the model and token kinds in.
                const byDescription = groupBy.includes('description');
                row.model = byDescription ? (c.model ?? null) : null;
                row.cost_type = byDescription ? (c.cost_type ?? 'tokens') : null;
                row.token_type = byDescription ? (c.token_type ?? null) : null;
                row.service_tier = null;
                row.context_window = null;
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
      if ('amount' in first) first.amount = kind === 'negative' ? '-150.00' : 'twelve';
      else first.output_tokens = kind === 'negative' ? -5 : 'many';
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

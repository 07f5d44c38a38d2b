import type Database from 'better-sqlite3';
import type { DayRange, ProviderReport } from './providers/report-rows.ts';

export type ProviderState = 'ok' | 'degraded';

export interface ProviderStatusRow {
  provider: string;
  state: ProviderState;
  reason: string | null;
  code: string | null;
  last_attempt_at: number | null;
  last_success_at: number | null;
}

/** One message's latest totals, as session-spend computed them. */
export interface MessageSpendRow {
  session: string;
  messageId: string;
  node: string;
  project: string;
  provider: string;
  model: string;
  day: string;
  atMs: number;
  input: number;
  output: number;
  reasoning: number;
  cacheRead: number;
  cacheWrite: number;
  micros: number;
  estimated: 0 | 1;
}

export interface CostStore {
  sqlite: Database.Database;
  replaceProviderDays(provider: string, range: DayRange, report: ProviderReport): void;
  applyMessages(consumer: string, rows: MessageSpendRow[], appliedSeq: number): void;
  appliedSeq(consumer: string): number;
  setProviderStatus(s: {
    provider: string;
    state: ProviderState;
    reason: string | null;
    code: string | null;
    at: number;
  }): void;
  providerStatuses(): ProviderStatusRow[];
}

/** Every write of the cost service, as prepared statements in transactions. */
export function createCostStore(sqlite: Database.Database): CostStore {
  const deleteUsage = sqlite.prepare(
    'DELETE FROM provider_usage WHERE provider = ? AND day >= ? AND day <= ?',
  );
  const deleteCost = sqlite.prepare('DELETE FROM provider_cost WHERE provider = ? AND day >= ? AND day <= ?');
  // Two results may share a key (a grouping the provider splits finer than ours): they add up.
  const insertUsage = sqlite.prepare(`
    INSERT INTO provider_usage (provider, day, model, scope_id, api_key_id, input, output, cache_read, cache_write, requests)
    VALUES (@provider, @day, @model, @scopeId, @apiKeyId, @input, @output, @cacheRead, @cacheWrite, @requests)
    ON CONFLICT DO UPDATE SET input = input + excluded.input, output = output + excluded.output,
      cache_read = cache_read + excluded.cache_read, cache_write = cache_write + excluded.cache_write,
      requests = requests + excluded.requests`);
  const insertCost = sqlite.prepare(`
    INSERT INTO provider_cost (provider, day, model, scope_id, line_item, micros)
    VALUES (@provider, @day, @model, @scopeId, @lineItem, @micros)
    ON CONFLICT DO UPDATE SET micros = micros + excluded.micros`);
  const upsertStatus = sqlite.prepare(`
    INSERT INTO provider_status (provider, state, reason, code, last_attempt_at, last_success_at)
    VALUES (@provider, @state, @reason, @code, @at, @success)
    ON CONFLICT (provider) DO UPDATE SET state = excluded.state, reason = excluded.reason, code = excluded.code,
      last_attempt_at = excluded.last_attempt_at,
      last_success_at = COALESCE(excluded.last_success_at, provider_status.last_success_at)`);
  const selectStatus = sqlite.prepare('SELECT * FROM provider_status ORDER BY provider');
  const upsertMessage = sqlite.prepare(`
    INSERT INTO message_spend (session, message_id, node, project, provider, model, day, at_ms, input, output,
      reasoning, cache_read, cache_write, micros, estimated)
    VALUES (@session, @messageId, @node, @project, @provider, @model, @day, @atMs, @input, @output,
      @reasoning, @cacheRead, @cacheWrite, @micros, @estimated)
    ON CONFLICT (session, message_id) DO UPDATE SET node = excluded.node, project = excluded.project,
      provider = excluded.provider, model = excluded.model, input = excluded.input, output = excluded.output,
      reasoning = excluded.reasoning, cache_read = excluded.cache_read, cache_write = excluded.cache_write,
      micros = excluded.micros, estimated = excluded.estimated`);
  const selectSeq = sqlite.prepare<[string], { applied_seq: number }>(
    'SELECT applied_seq FROM consumer_state WHERE name = ?',
  );
  const upsertSeq = sqlite.prepare(
    'INSERT INTO consumer_state (name, applied_seq) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET applied_seq = excluded.applied_seq',
  );
  /** The days of `range` for one provider become exactly `report`: old rows go, in one transaction. */
  const replaceProviderDays = sqlite.transaction(
    (provider: string, range: DayRange, report: ProviderReport) => {
      deleteUsage.run(provider, range.from, range.to);
      deleteCost.run(provider, range.from, range.to);
      for (const u of report.usage) insertUsage.run({ provider, ...u });
      for (const c of report.cost) insertCost.run({ provider, ...c });
    },
  );

  const applyMessages = sqlite.transaction(
    (consumer: string, rows: MessageSpendRow[], appliedSeq: number) => {
      for (const r of rows) upsertMessage.run(r);
      upsertSeq.run(consumer, appliedSeq);
    },
  );

  return {
    sqlite,
    replaceProviderDays,
    applyMessages,
    appliedSeq: (consumer: string): number => selectSeq.get(consumer)?.applied_seq ?? 0,
    setProviderStatus(s: {
      provider: string;
      state: ProviderState;
      reason: string | null;
      code: string | null;
      at: number;
    }) {
      upsertStatus.run({ ...s, success: s.state === 'ok' ? s.at : null });
    },
    providerStatuses: (): ProviderStatusRow[] => selectStatus.all() as ProviderStatusRow[],
  };
}

import type { Clock } from '@hal/observability';
import type { CostGroupBy, CostReport, CostReportRequest, ProviderStatus } from '@hal/protocol';
import type { CostStore } from './cost-store.ts';
import { microsToUsd } from './money.ts';
import type { ProjectOf } from './project-mapping.ts';
import { DAY_MS, type DayRange, dayOf, dayStartMs } from './providers/report-rows.ts';

export function rangeOf(req: CostReportRequest, nowMs: number): DayRange {
  const today = dayOf(nowMs);
  if (req.period === 'custom') return { from: req.from ?? today, to: req.to ?? today };
  if (req.period === 'week') return { from: dayOf(nowMs - 6 * DAY_MS), to: today };
  if (req.period === 'month') return { from: `${today.slice(0, 7)}-01`, to: today };
  return { from: today, to: today };
}

interface Acc {
  key: Partial<Record<CostGroupBy, string>>;
  observed: number;
  estimated: number;
  billed: number | null;
  tokens: { input: number; output: number; reasoning: number; cache_read: number; cache_write: number };
  messages: number;
}

interface ObservedRow {
  provider: string;
  model: string;
  project: string;
  node: string;
  session: string;
  day: string;
  micros: number;
  est: number;
  input: number;
  output: number;
  reasoning: number;
  cache_read: number;
  cache_write: number;
  n: number;
}

const BILLED_DIMS: readonly CostGroupBy[] = ['provider', 'model', 'project'];

/**
 * Observed (session events) and billed (provider reports) spend over a range, summed in
 * micro-dollars and converted once. Billed figures join rows only when every grouping field
 * exists on the provider side (provider, model, project); by node or session they are null.
 */
export function buildReport(
  req: CostReportRequest,
  deps: { store: CostStore; clock: Clock; projectOf: ProjectOf; configuredProviders: string[] },
): CostReport {
  const { sqlite } = deps.store;
  const range = rangeOf(req, deps.clock.now());
  const groupBy = req.group_by;
  const billedJoins = groupBy.every((g) => BILLED_DIMS.includes(g));
  const rows = new Map<string, Acc>();
  const accOf = (key: Acc['key']): Acc => {
    const id = JSON.stringify(groupBy.map((g) => key[g] ?? ''));
    let acc = rows.get(id);
    if (acc === undefined) {
      acc = {
        key,
        observed: 0,
        estimated: 0,
        billed: billedJoins ? 0 : null,
        tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
        messages: 0,
      };
      rows.set(id, acc);
    }
    return acc;
  };
  const pick = (r: Partial<Record<CostGroupBy, string>>) =>
    Object.fromEntries(groupBy.map((g) => [g, r[g] ?? '']));

  const observed = sqlite
    .prepare(
      `SELECT provider, model, project, node, session, day, SUM(micros) AS micros,
         SUM(CASE WHEN estimated = 1 THEN micros ELSE 0 END) AS est, SUM(input) AS input, SUM(output) AS output,
         SUM(reasoning) AS reasoning, SUM(cache_read) AS cache_read, SUM(cache_write) AS cache_write, COUNT(*) AS n
       FROM message_spend WHERE day >= ? AND day <= ? GROUP BY provider, model, project, node, session, day`,
    )
    .all(range.from, range.to) as ObservedRow[];
  const billed = sqlite
    .prepare(
      `SELECT provider, model, scope_id, day, SUM(micros) AS micros FROM provider_cost
       WHERE day >= ? AND day <= ? GROUP BY provider, model, scope_id, day`,
    )
    .all(range.from, range.to) as Array<{
    provider: string;
    model: string;
    scope_id: string;
    day: string;
    micros: number;
  }>;

  const days = new Map<string, { observed: number; billed: number }>();
  for (let t = dayStartMs(range.from); t <= dayStartMs(range.to); t += DAY_MS)
    days.set(dayOf(t), { observed: 0, billed: 0 });
  const recon = new Map<string, { provider: string; project: string; billed: number; observed: number }>();
  const reconOf = (provider: string, project: string) => {
    const id = `${provider}\u0000${project}`;
    let r = recon.get(id);
    if (r === undefined) {
      r = { provider, project, billed: 0, observed: 0 };
      recon.set(id, r);
    }
    return r;
  };
  const totals = { ...accOf({}), billed: 0 };
  rows.clear();

  for (const o of observed) {
    const acc = accOf(pick(o));
    for (const a of [acc, totals]) {
      a.observed += o.micros;
      a.estimated += o.est;
      a.messages += o.n;
      for (const k of ['input', 'output', 'reasoning', 'cache_read', 'cache_write'] as const)
        a.tokens[k] += o[k];
    }
    const d = days.get(o.day);
    if (d !== undefined) d.observed += o.micros;
    reconOf(o.provider, o.project).observed += o.micros;
  }
  for (const b of billed) {
    const project = deps.projectOf(b.provider, b.scope_id);
    if (billedJoins) {
      const acc = accOf(pick({ provider: b.provider, model: b.model, project }));
      acc.billed = (acc.billed ?? 0) + b.micros;
    }
    totals.billed += b.micros;
    const d = days.get(b.day);
    if (d !== undefined) d.billed += b.micros;
    reconOf(b.provider, project).billed += b.micros;
  }

  const statuses = new Map(deps.store.providerStatuses().map((s) => [s.provider, s]));
  const providers: ProviderStatus[] = deps.configuredProviders.map((p) => {
    const s = statuses.get(p);
    return {
      provider: p,
      state: s?.state ?? 'unknown',
      reason: s?.reason ?? null,
      last_success_at: s?.last_success_at == null ? null : new Date(s.last_success_at).toISOString(),
    };
  });

  const usd = microsToUsd;
  return {
    period: req.period,
    from: range.from,
    to: range.to,
    group_by: groupBy,
    totals: {
      observed_usd: usd(totals.observed),
      estimated_usd: usd(totals.estimated),
      billed_usd: usd(totals.billed),
      tokens: totals.tokens,
      messages: totals.messages,
    },
    rows: [...rows.values()]
      .sort((a, b) => Math.max(b.observed, b.billed ?? 0) - Math.max(a.observed, a.billed ?? 0))
      .map((a) => ({
        key: a.key,
        observed_usd: usd(a.observed),
        estimated_usd: usd(a.estimated),
        billed_usd: a.billed === null ? null : usd(a.billed),
        tokens: a.tokens,
        messages: a.messages,
      })),
    reconciliation: [...recon.values()]
      .sort((a, b) => a.provider.localeCompare(b.provider) || a.project.localeCompare(b.project))
      .map((r) => ({
        provider: r.provider,
        project: r.project,
        billed_usd: usd(r.billed),
        observed_usd: usd(r.observed),
        difference_usd: usd(r.billed - r.observed),
      })),
    days: [...days.entries()].map(([day, d]) => ({
      day,
      observed_usd: usd(d.observed),
      billed_usd: usd(d.billed),
    })),
    providers,
  };
}

import { useMemo } from 'preact/hooks';
import { Chart } from '../components/chart.tsx';
import { useApp } from '../context.ts';
import { count, usd } from '../format.ts';
import { useLoad } from '../hooks.ts';
import { href } from '../router.ts';
import type { BudgetView, CostReport } from '../types.ts';

const PERIODS = ['today', 'week', 'month'] as const;
const DIMENSIONS = ['provider', 'model', 'project', 'session'] as const;
type Dimension = (typeof DIMENSIONS)[number];

const costEvent = (e: { type: string }) => e.type === 'message.completed' || e.type.startsWith('cost.');

export function CostView({ params }: { params: URLSearchParams }) {
  const { api } = useApp();
  const period = PERIODS.find((p) => p === params.get('period')) ?? 'month';
  const { data, error } = useLoad(
    async () => {
      const reports = await Promise.all(
        DIMENSIONS.map(
          async (d) => [d, (await api.get<CostReport>('api/v1/cost', { period, group_by: d })).data] as const,
        ),
      );
      return Object.fromEntries(reports) as Record<Dimension, CostReport>;
    },
    [period],
    { when: costEvent, debounceMs: 1000, everyMs: 60_000 },
  );
  const budgets = useLoad(async () => (await api.get<BudgetView[]>('api/v1/cost/budgets')).data, [], {
    when: costEvent,
    debounceMs: 1000,
    everyMs: 60_000,
  });
  const any = data?.provider;
  return (
    <div class="cost" data-testid="cost">
      <section class="card">
        <h2>
          Cost{' '}
          <span class="periods">
            {PERIODS.map((p) => (
              <a key={p} href={href('cost', undefined, { period: p })} class={p === period ? 'active' : ''}>
                {p}
              </a>
            ))}
          </span>
        </h2>
        {error !== undefined && <p class="error">{error}</p>}
        {any !== undefined && (
          <>
            <p class="totals" data-testid="cost-totals">
              observed <b data-testid="cost-observed">{usd(any.totals.observed_usd)}</b> · billed{' '}
              <b>{usd(any.totals.billed_usd)}</b> · estimated share {usd(any.totals.estimated_usd)} ·{' '}
              {count(any.totals.messages)} messages ·{' '}
              {count(any.totals.tokens.input + any.totals.tokens.output)} tokens · {any.from} → {any.to}
            </p>
            <ByDay report={any} />
            {any.providers.some((p) => p.state !== 'ok') && (
              <ul class="muted">
                {any.providers
                  .filter((p) => p.state !== 'ok')
                  .map((p) => (
                    <li key={p.provider}>
                      billing of {p.provider}: {p.state}
                      {p.reason === null ? '' : ` (${p.reason})`}
                    </li>
                  ))}
              </ul>
            )}
          </>
        )}
      </section>
      <Budgets budgets={budgets.data} error={budgets.error} />
      <div class="grid2">
        {DIMENSIONS.map((d) => (
          <Breakdown key={d} dimension={d} report={data?.[d]} />
        ))}
      </div>
      {any !== undefined && any.reconciliation.length > 0 && <Reconciliation report={any} />}
    </div>
  );
}

function ByDay({ report }: { report: CostReport }) {
  const { data, labels } = useMemo(
    () => ({
      data: [
        report.days.map((_, i) => i),
        report.days.map((d) => d.observed_usd),
        report.days.map((d) => d.billed_usd),
      ] as [number[], number[], number[]],
      labels: report.days.map((d) => d.day.slice(5)),
    }),
    [report],
  );
  return (
    <Chart
      data={data}
      labels={labels}
      yLabel="USD"
      series={[
        { label: 'observed', stroke: '#2563eb', fill: 'rgba(37,99,235,0.35)', bars: true },
        { label: 'billed', stroke: '#c2410c', fill: 'rgba(194,65,12,0.35)', bars: true },
      ]}
      testId="cost-by-day"
    />
  );
}

function Breakdown({ dimension, report }: { dimension: Dimension; report: CostReport | undefined }) {
  const rows = [...(report?.rows ?? [])].sort((a, b) => b.observed_usd - a.observed_usd).slice(0, 15);
  const max = Math.max(1e-9, ...rows.map((r) => Math.max(r.observed_usd, r.billed_usd ?? 0)));
  return (
    <section class="card" data-testid={`cost-by-${dimension}`}>
      <h3>By {dimension}</h3>
      {report !== undefined && rows.length === 0 && <p class="muted">No spend in this period.</p>}
      <table class="bars">
        <tbody>
          {rows.map((r) => {
            const name = r.key[dimension] ?? '—';
            return (
              <tr key={name} data-key={name}>
                <td class="name">
                  {dimension === 'session' ? <a href={href('session', name)}>{name}</a> : name}
                </td>
                <td class="bar">
                  <div class="observed" style={{ width: `${(100 * r.observed_usd) / max}%` }} />
                  {r.billed_usd !== null && (
                    <div class="billed" style={{ width: `${(100 * r.billed_usd) / max}%` }} />
                  )}
                </td>
                <td class="num">{usd(r.observed_usd)}</td>
                <td class="num muted">{r.billed_usd === null ? '' : `billed ${usd(r.billed_usd)}`}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function Budgets({ budgets, error }: { budgets: BudgetView[] | undefined; error: string | undefined }) {
  return (
    <section class="card" data-testid="budgets">
      <h3>Budgets</h3>
      {error !== undefined && <p class="error">{error}</p>}
      {budgets !== undefined && budgets.length === 0 && (
        <p class="muted">No budget is configured (cost.budgets).</p>
      )}
      <table>
        <tbody>
          {(budgets ?? []).map((b) => {
            const forecast = b.forecast_usd ?? b.spent_usd;
            const scale = Math.max(b.limit_usd, forecast, b.spent_usd, 1e-9);
            return (
              <tr key={b.name} data-budget={b.name}>
                <td>
                  <b>{b.name}</b>
                  <div class="muted small">
                    {b.scope}
                    {b.project === null ? '' : ` ${b.project}`} · per {b.period} ({b.period_key})
                  </div>
                </td>
                <td class="bar budget">
                  <div class="forecast" style={{ width: `${(100 * forecast) / scale}%` }} />
                  <div class={`spent ${b.state}`} style={{ width: `${(100 * b.spent_usd) / scale}%` }} />
                  <div class="limit" style={{ left: `${(100 * b.limit_usd) / scale}%` }} />
                </td>
                <td class="num">
                  {usd(b.spent_usd)} / {usd(b.limit_usd)}
                </td>
                <td class={b.forecast_exceeds ? 'warn' : 'muted'}>
                  forecast {usd(b.forecast_usd)}
                  {b.burn_rate_usd_per_hour === null ? '' : ` · ${usd(b.burn_rate_usd_per_hour)}/h`}
                </td>
                <td>
                  <span class={`badge ${b.state === 'ok' ? 'ok' : b.state === 'warning' ? 'warn' : 'bad'}`}>
                    {b.state}
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </section>
  );
}

function Reconciliation({ report }: { report: CostReport }) {
  return (
    <section class="card">
      <h3>Billed vs observed</h3>
      <table>
        <thead>
          <tr>
            <th>provider</th>
            <th>project</th>
            <th class="num">billed</th>
            <th class="num">observed</th>
            <th class="num">difference</th>
          </tr>
        </thead>
        <tbody>
          {report.reconciliation.map((r) => (
            <tr key={`${r.provider}/${r.project}`}>
              <td>{r.provider}</td>
              <td>{r.project}</td>
              <td class="num">{usd(r.billed_usd)}</td>
              <td class="num">{usd(r.observed_usd)}</td>
              <td class={`num ${Math.abs(r.difference_usd) > 0.01 ? 'warn' : ''}`}>
                {usd(r.difference_usd)}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

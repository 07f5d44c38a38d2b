import { type CostGroupBy, type CostReport, costReportSchema } from '@hal/protocol';
import type { Argv, CommandModule } from 'yargs';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import type { CommandContext, GlobalArgs } from '../command-context.ts';
import type { Output } from '../output.ts';
import { type Column, renderTable } from '../table.ts';

export const COST_PATH = '/api/v1/cost';
const costAnswer = envelope(costReportSchema);
export const COST_PERIODS = ['today', 'week', 'month'] as const;
export type CostCommandPeriod = (typeof COST_PERIODS)[number];
export const COST_GROUPINGS = ['provider', 'model', 'project', 'node', 'session'] as const;

const ESTIMATED_MARK = '*';
/** Eighths of a cell, so a small day still shows a sliver instead of nothing. */
const PARTIAL_BLOCKS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
const FULL_BLOCK = '█';
const MIN_BAR = 10;

/** `$1.23`, `-$0.40`: cents are what a person reads; the API keeps the exact figures (`--json`). */
export const usd = (v: number): string => `${v < 0 ? '-' : ''}$${Math.abs(v).toFixed(2)}`;
const cents = (v: number): string => v.toFixed(2);

type Row = CostReport['rows'][number];

/** Observed spend, marked when part of it was estimated from `cost.model_rates`. */
const observedCell = (observed: number, estimated: number): string =>
  `${cents(observed)}${estimated > 0 ? ESTIMATED_MARK : ' '}`;

/** Billed figures exist when a provider is configured or anything was billed in the range. */
const hasBilling = (r: CostReport): boolean => r.providers.length > 0 || r.totals.billed_usd > 0;

function rowColumns(report: CostReport, by: CostGroupBy): Array<Column<Row>> {
  const billed = hasBilling(report);
  return [
    { header: by.toUpperCase(), value: (r) => r.key[by] || '-', shrink: true },
    {
      header: 'OBSERVED USD',
      value: (r) => observedCell(r.observed_usd, r.estimated_usd),
      align: 'right',
    },
    ...(billed
      ? ([
          {
            header: 'BILLED USD',
            value: (r) => (r.billed_usd === null ? '-' : cents(r.billed_usd)),
            align: 'right',
          },
          {
            header: 'DIFF USD',
            value: (r) => (r.billed_usd === null ? '-' : cents(r.billed_usd - r.observed_usd)),
            align: 'right',
          },
        ] satisfies Array<Column<Row>>)
      : []),
    { header: 'TOKENS IN/OUT', value: (r) => `${r.tokens.input}/${r.tokens.output}`, align: 'right' },
    { header: 'MSGS', value: (r) => String(r.messages), align: 'right' },
  ];
}

function totalsLine(report: CostReport): string {
  const t = report.totals;
  const parts = [`observed ${usd(t.observed_usd)}`];
  if (t.estimated_usd > 0) parts[0] += ` (${usd(t.estimated_usd)} estimated${ESTIMATED_MARK})`;
  if (hasBilling(report)) {
    parts.push(`billed ${usd(t.billed_usd)}`, `difference ${usd(t.billed_usd - t.observed_usd)}`);
  }
  parts.push(`${t.messages} message${t.messages === 1 ? '' : 's'}`);
  return `TOTAL  ${parts.join(', ')}`;
}

/**
 * One line per day: the date, its observed spend and a bar of unicode blocks scaled so the
 * largest day fills what the terminal has left.
 */
export function renderDayBars(days: CostReport['days'], width: number): string {
  const billed = days.some((d) => d.billed_usd > 0);
  const amounts = days.map((d) => cents(d.observed_usd));
  const billedAmounts = days.map((d) => cents(d.billed_usd));
  const amountWidth = Math.max(8, ...amounts.map((a) => a.length));
  const billedWidth = Math.max(6, ...billedAmounts.map((a) => a.length));
  const head = `${'DAY'.padEnd(10)}  ${'OBSERVED'.padStart(amountWidth)}${billed ? `  ${'BILLED'.padStart(billedWidth)}` : ''}`;
  const barWidth = Math.max(MIN_BAR, width - head.length - 2);
  const max = Math.max(0, ...days.map((d) => d.observed_usd));
  const lines = [head];
  days.forEach((d, i) => {
    // Any spend at all gets at least a sliver: "almost nothing" must not read as "nothing".
    const eighths = d.observed_usd <= 0 ? 0 : Math.max(1, Math.round((d.observed_usd / max) * barWidth * 8));
    const bar = FULL_BLOCK.repeat(Math.floor(eighths / 8)) + (PARTIAL_BLOCKS[eighths % 8] ?? '');
    const billedCell = billed ? `  ${(billedAmounts[i] ?? '').padStart(billedWidth)}` : '';
    lines.push(`${d.day}  ${(amounts[i] ?? '').padStart(amountWidth)}${billedCell}  ${bar}`.trimEnd());
  });
  return lines.join('\n');
}

/** The human form of a report: heading, table, totals, reconciliation, per-day bars (week/month). */
export function formatCostReport(report: CostReport, by: CostGroupBy, width: number): string {
  const range = report.from === report.to ? report.from : `${report.from}..${report.to}`;
  const out = [`COST ${report.period} ${range} by ${by} (USD)`, ''];
  out.push(report.rows.length === 0 ? '(no spend)' : renderTable(report.rows, rowColumns(report, by), width));
  out.push('', totalsLine(report));
  if (report.totals.estimated_usd > 0) {
    out.push(`${ESTIMATED_MARK} includes spend estimated from cost.model_rates (opencode reported no cost)`);
  }
  for (const p of report.providers.filter((s) => s.state !== 'ok')) {
    out.push(`provider ${p.provider}: ${p.state}${p.reason === null ? '' : ` (${p.reason})`}`);
  }
  const recon = report.reconciliation.filter((r) => r.billed_usd !== 0);
  if (recon.length > 0) {
    out.push('', 'BILLED VS OBSERVED');
    out.push(
      renderTable(
        recon,
        [
          { header: 'PROVIDER', value: (r) => r.provider },
          { header: 'PROJECT', value: (r) => r.project, shrink: true },
          { header: 'BILLED USD', value: (r) => cents(r.billed_usd), align: 'right' },
          { header: 'OBSERVED USD', value: (r) => cents(r.observed_usd), align: 'right' },
          { header: 'DIFF USD', value: (r) => cents(r.difference_usd), align: 'right' },
        ],
        width,
      ),
    );
  }
  if (report.period !== 'today' && report.days.length > 1) {
    out.push('', renderDayBars(report.days, width));
  }
  return `${out.join('\n')}\n`;
}

export async function showCost(
  client: ApiClient,
  out: Output,
  opts: { period: CostCommandPeriod; by: CostGroupBy },
): Promise<void> {
  const { data } = await client.get(COST_PATH, costAnswer, { period: opts.period, group_by: opts.by });
  if (out.json) {
    out.write(`${JSON.stringify(data, null, 2)}\n`);
    return;
  }
  out.write(formatCostReport(data, opts.by, out.width));
}

const DESCRIBE: Record<CostCommandPeriod, string> = {
  today: 'Spend today (UTC)',
  week: 'Spend over the last 7 days, with a per-day bar view',
  month: 'Spend this month (UTC), with a per-day bar view',
};

export function costCommand(ctx: CommandContext): CommandModule<GlobalArgs, GlobalArgs> {
  return {
    command: 'cost',
    describe: 'What the agents cost: observed, estimated and billed spend',
    builder: (y: Argv<GlobalArgs>) => {
      let b = y;
      for (const period of COST_PERIODS) {
        b = b.command(
          period,
          DESCRIBE[period],
          (c) =>
            c.option('by', {
              choices: COST_GROUPINGS,
              default: 'project' as CostGroupBy,
              describe: 'One row per',
            }),
          async (argv) => showCost(await ctx.client(argv), ctx.output(argv), { period, by: argv.by }),
        ) as unknown as Argv<GlobalArgs>;
      }
      return b
        .example('$0 cost today --by session', 'spend per session today')
        .example('$0 cost month --by model', 'this month per model, with a bar per day')
        .demandCommand(1, 'name a period: today, week or month') as unknown as Argv<GlobalArgs>;
    },
    handler: () => undefined,
  };
}

import type { CommandLayer } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { type BudgetView, CostQuery, type CostReport } from '@hal/protocol';
import type { APIEmbed, REST } from 'discord.js';
import { Routes } from 'discord.js';
import { nonceOf } from './alert-render.ts';
import { type BridgeStore, Key } from './bridge-store.ts';
import { Colour, embed, usd } from './embeds.ts';

export function yesterdayOf(now: number): string {
  return new Date(now - 86_400_000).toISOString().slice(0, 10);
}

/** Yesterday by project and model, billed vs observed, budgets near their limit, the forecast. */
export function renderDailyReport(day: string, report: CostReport, budgets: readonly BudgetView[]): APIEmbed {
  const rows = [...report.rows].sort((a, b) => b.observed_usd - a.observed_usd).slice(0, 15);
  const near = budgets.filter((b) => b.state !== 'ok' || b.share >= 0.8 || b.forecast_exceeds);
  return embed({
    title: `Cost report for ${day}`,
    description:
      rows.length === 0
        ? 'No spend recorded.'
        : rows
            .map(
              (r) =>
                `**${r.key.project ?? '—'}** · ${r.key.model ?? '—'}: observed ${usd(r.observed_usd)}, billed ${usd(r.billed_usd)}`,
            )
            .join('\n'),
    colour: near.some((b) => b.state === 'exceeded')
      ? Colour.critical
      : near.length > 0
        ? Colour.warning
        : Colour.info,
    fields: [
      { name: 'Observed', value: usd(report.totals.observed_usd) },
      { name: 'Billed', value: usd(report.totals.billed_usd) },
      { name: 'Messages', value: String(report.totals.messages) },
      {
        name: 'Budgets near their limit',
        value:
          near.length === 0
            ? 'none'
            : near
                .map(
                  (b) =>
                    `${b.name}: ${usd(b.spent_usd)} of ${usd(b.limit_usd)} (${Math.round(b.share * 100)}%)`,
                )
                .join('\n'),
        inline: false,
      },
      {
        name: 'Forecast',
        value:
          budgets
            .filter((b) => b.forecast_usd !== null)
            .map(
              (b) =>
                `${b.name}: ${usd(b.forecast_usd)} this ${b.period}${b.forecast_exceeds ? ' ⚠️ over budget' : ''}`,
            )
            .join('\n') || '—',
        inline: false,
      },
    ],
  });
}

export interface DailyReport {
  /** Posts yesterday's report when the configured hour has come and no instance posted it yet. */
  tick(): Promise<boolean>;
}

export function createDailyReport(deps: {
  config: DiscordConfig;
  rest: REST;
  store: BridgeStore;
  layer: CommandLayer;
  log: Logger;
  now: () => number;
  instance: string;
}): DailyReport {
  return {
    async tick() {
      const cfg = deps.config.daily_report;
      if (!cfg) return false;
      const now = deps.now();
      if (new Date(now).getUTCHours() < cfg.hour_utc) return false;
      const day = yesterdayOf(now);
      const key = Key.report(day);
      if ((await deps.store.get(key)) !== undefined) return false;
      const [report, { budgets }] = await Promise.all([
        deps.layer.cost.query(CostQuery.REPORT, {
          period: 'custom',
          from: day,
          to: day,
          group_by: ['project', 'model'],
        }),
        deps.layer.cost.query(CostQuery.BUDGETS, {}),
      ]);
      // The claim comes after the reads: a cost service that is down leaves the day unclaimed for the next tick.
      if (!(await deps.store.create(key, { owner: deps.instance, at: now }))) return false;
      await deps.rest.post(Routes.channelMessages(cfg.channel), {
        body: {
          embeds: [renderDailyReport(day, report, budgets)],
          nonce: nonceOf(`report|${day}`),
          enforce_nonce: true,
        },
      });
      deps.log.info({ day }, 'daily cost report posted');
      return true;
    },
  };
}

import type { CostConfig } from '@hal/config';
import type { Clock, HalMetrics, Logger } from '@hal/observability';
import { toHalError } from '@hal/protocol';
import { type BillingSink, storeSink } from './billing-share.ts';
import type { CostStore } from './cost-store.ts';
import { microsToUsd } from './money.ts';
import type { ProjectOf } from './project-mapping.ts';
import { createAnthropicClient } from './providers/anthropic.ts';
import { createOpenAIClient } from './providers/openai.ts';
import type { FetchFn, RetryPolicy, SleepFn } from './providers/provider-http.ts';
import { DAY_MS, type DayRange, dayOf, type ProviderClient } from './providers/report-rows.ts';

export interface BillingPollerDeps {
  config: CostConfig;
  store: CostStore;
  log: Logger;
  clock: Clock;
  fetch: FetchFn;
  sleep: SleepFn;
  projectOf: ProjectOf;
  metrics: HalMetrics;
  retry?: RetryPolicy;
  /** Where each poll's result goes; default this instance's store. */
  sink?: BillingSink;
  /** After every cycle (budgets re-evaluate, tests await it). */
  onCycle?: () => void;
}

export interface BillingPoller {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One cycle now; resolves when every provider was polled (or failed). */
  pollOnce(): Promise<void>;
  /** Configured providers. */
  providers(): string[];
}

/**
 * Polls each configured provider every `poll_interval_minutes`, re-reading the last `repoll_days`
 * days because providers revise recent buckets. A provider's days are replaced only when its whole
 * report (every page of usage and cost) was read: a failure mid-way leaves its old rows untouched.
 */
export function createBillingPoller(deps: BillingPollerDeps): BillingPoller {
  const log = deps.log.child({ component: 'billing' });
  const clients: ProviderClient[] = [];
  const common = {
    fetch: deps.fetch,
    sleep: deps.sleep,
    log,
    ...(deps.retry === undefined ? {} : { retry: deps.retry }),
  };
  const { anthropic, openai } = deps.config.providers;
  if (anthropic !== undefined) clients.push(createAnthropicClient({ ...common, config: anthropic }));
  if (openai !== undefined) clients.push(createOpenAIClient({ ...common, config: openai }));
  const sink = deps.sink ?? storeSink(deps.store);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = true;

  function range(): DayRange {
    const now = deps.clock.now();
    return { from: dayOf(now - (deps.config.repoll_days - 1) * DAY_MS), to: dayOf(now) };
  }

  async function pollProvider(client: ProviderClient, days: DayRange): Promise<void> {
    const at = deps.clock.now();
    try {
      const report = await client.fetchReport(days);
      await sink.report(client.provider, days, report);
      await sink.status({ provider: client.provider, state: 'ok', reason: null, code: null, at });
      log.info(
        {
          provider: client.provider,
          from: days.from,
          to: days.to,
          usage_rows: report.usage.length,
          cost_rows: report.cost.length,
        },
        'provider polled',
      );
    } catch (err) {
      const halErr = toHalError(err);
      await sink
        .status({
          provider: client.provider,
          state: 'degraded',
          reason: halErr.message,
          code: halErr.code,
          at,
        })
        .catch((e: unknown) => log.error({ err: e }, 'provider status not recorded'));
      log.error(
        { provider: client.provider, code: halErr.code, err: halErr },
        'provider poll failed; keeping its previous figures',
      );
    }
  }

  function refreshGauge(): void {
    const rows = deps.store.sqlite
      .prepare(
        'SELECT provider, model, scope_id, SUM(micros) AS micros FROM provider_cost GROUP BY provider, model, scope_id',
      )
      .all() as Array<{ provider: string; model: string; scope_id: string; micros: number }>;
    const totals = new Map<string, { provider: string; model: string; project: string; micros: number }>();
    for (const r of rows) {
      const project = deps.projectOf(r.provider, r.scope_id);
      const key = `${r.provider}\u0000${r.model}\u0000${project}`;
      const t = totals.get(key) ?? { provider: r.provider, model: r.model, project, micros: 0 };
      t.micros += r.micros;
      totals.set(key, t);
    }
    deps.metrics.costUsdTotal.reset();
    for (const t of totals.values()) {
      deps.metrics.costUsdTotal.set(
        { provider: t.provider, model: t.model, project: t.project },
        microsToUsd(t.micros),
      );
    }
  }

  async function cycle(): Promise<void> {
    const days = range();
    for (const client of clients) await pollProvider(client, days);
    refreshGauge();
    deps.onCycle?.();
  }

  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(() => {
      void pollOnce().finally(schedule);
    }, deps.config.poll_interval_minutes * 60_000);
    timer.unref();
  }

  function pollOnce(): Promise<void> {
    // One cycle at a time: a slow provider must not overlap the next tick and write twice.
    running ??= cycle().finally(() => {
      running = undefined;
    });
    return running;
  }

  return {
    async start() {
      stopped = false;
      refreshGauge();
      if (clients.length === 0) {
        log.info('no provider admin keys configured; billing not polled');
        return;
      }
      void pollOnce().finally(schedule);
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running?.catch(() => undefined);
    },
    pollOnce,
    providers: () => clients.map((c) => c.provider),
  };
}

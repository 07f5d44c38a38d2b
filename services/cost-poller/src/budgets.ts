import { createHash } from 'node:crypto';
import { type JetStreamClient, publishEvent } from '@hal/bus';
import type { CostConfig } from '@hal/config';
import type { Clock, Logger } from '@hal/observability';
import { type BudgetView, type EventRecord, EventType, SCHEMA_VERSION, SYSTEM_NODE } from '@hal/protocol';
import type { AlertClaims } from './alert-claims.ts';
import type { CostStore } from './cost-store.ts';
import { decimalToMicros, microsToUsd } from './money.ts';
import { DAY_MS } from './providers/report-rows.ts';

type Budget = CostConfig['budgets'][number];
type AlertKind = 'warning' | 'exceeded' | 'forecast';
const HOUR_MS = 3_600_000;
const MAX_SESSIONS_SHOWN = 20;

const EVENT_OF: Record<AlertKind, string> = {
  warning: EventType.COST_BUDGET_WARNING,
  exceeded: EventType.COST_BUDGET_EXCEEDED,
  forecast: EventType.COST_FORECAST_EXCEEDS_BUDGET,
};

export interface BudgetsDeps {
  config: CostConfig;
  store: CostStore;
  js: JetStreamClient;
  log: Logger;
  clock: Clock;
  /** Which alerts were published, shared by every instance. */
  claims: AlertClaims;
  /** Checked before publishing: only the leading instance publishes (a standby evaluates nothing). */
  mayPublish?: () => boolean;
}

export interface Budgets {
  /** Recomputes every budget and publishes what newly crossed a line. */
  evaluate(): Promise<void>;
  views(): BudgetView[];
}

interface Period {
  key: string;
  startMs: number;
  endMs: number;
  fromDay: string;
  toDay: string;
}

function periodOf(period: 'day' | 'month', nowMs: number): Period {
  const now = new Date(nowMs);
  if (period === 'day') {
    const startMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
    const day = new Date(startMs).toISOString().slice(0, 10);
    return { key: day, startMs, endMs: startMs + DAY_MS, fromDay: day, toDay: day };
  }
  const startMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1);
  const endMs = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
  return {
    key: new Date(startMs).toISOString().slice(0, 7),
    startMs,
    endMs,
    fromDay: new Date(startMs).toISOString().slice(0, 10),
    toDay: new Date(endMs - DAY_MS).toISOString().slice(0, 10),
  };
}

/** A stable id per (budget, subject, period, kind): a publish repeated after a crash is deduplicated by JetStream. */
function alertId(parts: string[]): string {
  const h = createHash('sha256').update(parts.join('\u0000')).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16] ?? '0', 16) & 0x3) | 0x8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const share = (spent: number, limit: number) => Math.round((spent / limit) * 10_000) / 10_000;

/**
 * Budgets count observed spend (session events): it is near real time, while provider reports
 * lag by minutes to hours. Each line (warning, exceeded, forecast) fires once per budget period
 * — per session for session budgets — and the record of it is kept in SQLite across restarts.
 */
export function createBudgets(deps: BudgetsDeps): Budgets {
  const log = deps.log.child({ component: 'budgets' });
  const { sqlite } = deps.store;
  let chain: Promise<void> = Promise.resolve();

  function filters(b: Budget): { sql: string; args: string[] } {
    const parts: string[] = [];
    const args: string[] = [];
    if (b.project !== undefined) {
      parts.push('project = ?');
      args.push(b.project);
    }
    if (b.provider !== undefined) {
      parts.push('provider = ?');
      args.push(b.provider);
    }
    return { sql: parts.map((p) => ` AND ${p}`).join(''), args };
  }

  function spentMicros(b: Budget, p: Period): number {
    const f = filters(b);
    const row = sqlite
      .prepare(`SELECT COALESCE(SUM(micros), 0) AS m FROM message_spend WHERE day >= ? AND day <= ?${f.sql}`)
      .get(p.fromDay, p.toDay, ...f.args) as { m: number };
    return row.m;
  }

  function burnMicrosLastHour(b: Budget, nowMs: number): number {
    const f = filters(b);
    const row = sqlite
      .prepare(
        `SELECT COALESCE(SUM(micros), 0) AS m FROM message_spend WHERE at_ms > ? AND at_ms <= ?${f.sql}`,
      )
      .get(nowMs - HOUR_MS, nowMs, ...f.args) as { m: number };
    return row.m;
  }

  function sessionSpend(b: Budget): Array<{ session: string; node: string; project: string; m: number }> {
    const f = filters(b);
    return sqlite
      .prepare(
        `SELECT session, MAX(node) AS node, MAX(project) AS project, SUM(micros) AS m FROM message_spend WHERE 1 = 1${f.sql}
         GROUP BY session ORDER BY m DESC`,
      )
      .all(...f.args) as Array<{ session: string; node: string; project: string; m: number }>;
  }

  /** The view plus, for session budgets, every session over the warning line (the view shows the top ones). */
  function view(b: Budget, nowMs: number): BudgetView & { _over: BudgetView['sessions'] } {
    const limit = decimalToMicros(String(b.limit_usd), 0) ?? 0;
    const p = periodOf(b.period, nowMs);
    const base = {
      name: b.name,
      scope: b.scope,
      period: b.period,
      project: b.project ?? null,
      provider: b.provider ?? null,
      limit_usd: b.limit_usd,
    };
    const stateOf = (spent: number): BudgetView['state'] =>
      spent >= limit ? 'exceeded' : spent >= limit * deps.config.warn_share ? 'warning' : 'ok';
    if (b.scope === 'session') {
      const sessions = sessionSpend(b);
      const top = sessions[0]?.m ?? 0;
      // Every session over the line is evaluated, not only those shown: a 21st must still be warned.
      const over: BudgetView['sessions'] = sessions
        .filter((s) => stateOf(s.m) !== 'ok')
        .map((s) => ({
          session: s.session,
          node: s.node,
          project: s.project,
          spent_usd: microsToUsd(s.m),
          share: share(s.m, limit),
          state: stateOf(s.m),
        }));
      return {
        ...base,
        period_key: 'session',
        spent_usd: microsToUsd(top),
        share: share(top, limit),
        state: stateOf(top),
        burn_rate_usd_per_hour: null,
        forecast_usd: null,
        forecast_exceeds: false,
        sessions: over.slice(0, MAX_SESSIONS_SHOWN),
        _over: over,
      };
    }
    const spent = spentMicros(b, p);
    const burn = burnMicrosLastHour(b, nowMs);
    const forecast = spent + Math.round((burn * Math.max(0, p.endMs - nowMs)) / HOUR_MS);
    return {
      ...base,
      period_key: p.key,
      spent_usd: microsToUsd(spent),
      share: share(spent, limit),
      state: stateOf(spent),
      burn_rate_usd_per_hour: microsToUsd(burn),
      forecast_usd: microsToUsd(forecast),
      forecast_exceeds: forecast > limit,
      sessions: [],
      _over: [],
    };
  }

  async function fire(
    kind: AlertKind,
    v: BudgetView,
    subject: { session: string; node: string; project: string } | undefined,
    spentUsd: number,
    shareValue: number,
  ): Promise<void> {
    const subjectId = subject?.session ?? '';
    const now = deps.clock.now();
    const id = alertId([v.name, subjectId, v.period_key, kind]);
    const record = { budget: v.name, subject: subjectId, period_key: v.period_key, kind, at: now };
    if (!(await deps.claims.claim(id, record))) return;
    const event: EventRecord = {
      version: SCHEMA_VERSION,
      id,
      seq: 0,
      node: subject?.node ?? SYSTEM_NODE,
      project: subject?.project ?? v.project ?? '',
      session: subject?.session ?? null,
      type: EVENT_OF[kind],
      time: new Date(now).toISOString(),
      data: {
        budget: v.name,
        scope: v.scope,
        period: v.period,
        period_key: v.period_key,
        limit_usd: v.limit_usd,
        spent_usd: spentUsd,
        share: shareValue,
        warn_share: deps.config.warn_share,
        ...(v.provider === null ? {} : { provider: v.provider }),
        ...(kind === 'forecast'
          ? { burn_rate_usd_per_hour: v.burn_rate_usd_per_hour, forecast_usd: v.forecast_usd }
          : {}),
      },
    };
    try {
      await publishEvent(deps.js, event);
      log.warn(
        { budget: v.name, kind, session: subject?.session, spent_usd: spentUsd },
        'budget event published',
      );
    } catch (err) {
      // Released so the next evaluation publishes it; the stable id dedups a publish that did land.
      await deps.claims.release(id).catch(() => undefined);
      log.error({ err, budget: v.name, kind }, 'budget event not published; will retry');
    }
  }

  /** A jump straight past the limit publishes only `exceeded`; the warning is recorded as passed. */
  async function cross(
    v: BudgetView,
    state: 'ok' | 'warning' | 'exceeded',
    subject: { session: string; node: string; project: string } | undefined,
    spentUsd: number,
    shareValue: number,
  ): Promise<void> {
    if (state === 'exceeded') {
      const subjectId = subject?.session ?? '';
      await deps.claims.claim(alertId([v.name, subjectId, v.period_key, 'warning']), {
        budget: v.name,
        subject: subjectId,
        period_key: v.period_key,
        kind: 'warning',
        at: deps.clock.now(),
      });
      await fire('exceeded', v, subject, spentUsd, shareValue);
    } else if (state === 'warning') {
      await fire('warning', v, subject, spentUsd, shareValue);
    }
  }

  async function evaluateNow(): Promise<void> {
    if (deps.mayPublish?.() === false) return;
    const now = deps.clock.now();
    for (const b of deps.config.budgets) {
      const v = view(b, now);
      if (b.scope === 'session') {
        for (const s of v._over) await cross(v, s.state, s, s.spent_usd, s.share);
        continue;
      }
      await cross(v, v.state, undefined, v.spent_usd, v.share);
      if (deps.config.forecast && v.forecast_exceeds && v.state !== 'exceeded') {
        await fire('forecast', v, undefined, v.spent_usd, v.share);
      }
    }
  }

  return {
    evaluate() {
      // Serialised: two batches evaluating at once could both see "not yet claimed".
      chain = chain.then(evaluateNow).catch((err: unknown) => log.error({ err }, 'budget evaluation failed'));
      return chain;
    },
    views: () => {
      const now = deps.clock.now();
      return deps.config.budgets.map((b) => {
        const { _over, ...v } = view(b, now);
        return v;
      });
    },
  };
}

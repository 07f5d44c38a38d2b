import { hostname } from 'node:os';
import { join } from 'node:path';
import {
  claimOwnConsumer,
  createLeaderRole,
  ensureStreams,
  type InstanceClaim,
  jetstreamClient,
  type LeaderRole,
  type NatsConnection,
  openLeaseBucket,
} from '@hal/bus';
import type { CostConfig } from '@hal/config';
import { dbReadinessCheck, type HalDatabase, openDatabase } from '@hal/db';
import {
  type Clock,
  createHalMetrics,
  type Logger,
  type Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
import { LeaseName } from '@hal/protocol';
import { openAlertClaims } from './alert-claims.ts';
import { type BillingPoller, createBillingPoller } from './billing-poller.ts';
import { type BillingShare, openBillingShare } from './billing-share.ts';
import { type Budgets, createBudgets } from './budgets.ts';
import { type CostStore, createCostStore } from './cost-store.ts';
import { migrationsFolder } from './migrations.ts';
import { createProjectMapper } from './project-mapping.ts';
import type { FetchFn, RetryPolicy, SleepFn } from './providers/provider-http.ts';
import { createCostQueries } from './queries.ts';
import { buildReport } from './report.ts';
import * as schema from './schema.ts';
import { createSessionSpend, type SessionSpend } from './session-spend.ts';

const BUDGET_TICK_MS = 60_000;

/** The part of the supervisor config the cost service reads. */
export interface CostPollerConfig {
  data_dir: string;
  cost: CostConfig;
  /** Names this instance's durable consumer (`hal-cost-<id>`); absent: kept in data_dir. */
  instance_id?: string | undefined;
  /**
   * `consumer_inactive_sec`: the consumer of an instance gone this long is removed by the server;
   * `lease_ttl_sec`: the leader lease (one instance polls billing and publishes budget events).
   */
  instances?: { consumer_inactive_sec: number; lease_ttl_sec: number };
  /** `replicas` of the KV buckets it opens (absent: 1; never lowered). */
  nats?: { replicas: number };
}

/** An unused consumer is removed after this long when the config does not say (1 hour). */
const DEFAULT_CONSUMER_INACTIVE_SEC = 3_600;
const DEFAULT_LEASE_TTL_SEC = 5;

export interface CostPollerDeps {
  config: CostPollerConfig;
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  readiness?: Readiness;
  clock?: Clock;
  fetch?: FetchFn;
  /** Waits between provider retries; tests pass one that records and returns at once. */
  sleep?: SleepFn;
  retry?: RetryPolicy;
  /**
   * Durable consumer name; default `hal-cost-<instance id>`. Each cost database has its own, and
   * the service deletes or re-creates no consumer but this one.
   */
  consumerName?: string;
}

export interface CostPoller {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Polls every configured provider now (also runs on its timer) — on the leading instance only. */
  pollNow(): Promise<void>;
  /** True while this instance polls provider billing (holds the `cost-poller` lease). */
  isLeader(): boolean;
  /** Re-evaluates budgets now and resolves when their events are published. */
  evaluateBudgets(): Promise<void>;
}

const realSleep: SleepFn = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export function createCostPoller(deps: CostPollerDeps): CostPoller {
  const log = deps.log.child({ component: 'cost-poller' });
  const clock = deps.clock ?? systemClock;
  const metrics = createHalMetrics(deps.registry);
  const cost = deps.config.cost;
  const projectOf = createProjectMapper(cost.projects);
  let database: HalDatabase<typeof schema> | undefined;
  let store: CostStore | undefined;
  let billing: BillingPoller | undefined;
  let spend: SessionSpend | undefined;
  let budgets: Budgets | undefined;
  let queries: ReturnType<typeof createCostQueries> | undefined;
  let tick: NodeJS.Timeout | undefined;
  let share: BillingShare | undefined;
  let roles: LeaderRole[] = [];
  let claim: InstanceClaim | undefined;
  let billingRole: LeaderRole | undefined;
  let budgetsRole: LeaderRole | undefined;
  const polling = () => billingRole?.isLeader() === true;
  const publishing = () => budgetsRole?.isLeader() === true;

  function providersCheck() {
    if (store === undefined) return { ok: false, detail: 'not started' };
    const degraded = store.providerStatuses().filter((s) => s.state === 'degraded');
    // A provider that refuses its key costs us billed figures, not the service: degraded, still ready.
    return degraded.length === 0
      ? { ok: true }
      : { ok: true, detail: `degraded: ${degraded.map((s) => s.reason ?? s.provider).join('; ')}` };
  }

  return {
    async start() {
      database = openDatabase({ file: join(deps.config.data_dir, 'cost.db'), migrationsFolder, schema, log });
      const st = createCostStore(database.sqlite);
      store = st;
      await ensureStreams(deps.nc);
      const js = jetstreamClient(deps.nc);
      const replicas = deps.config.nats?.replicas;
      const bud = createBudgets({
        config: cost,
        store: st,
        js,
        log,
        clock,
        claims: await openAlertClaims(deps.nc, replicas),
        mayPublish: publishing,
      });
      budgets = bud;
      // Every instance projects the billing the leader reads, so any of them answers with it.
      const shared = await openBillingShare({ nc: deps.nc, store: st, log, replicas });
      share = shared;
      await shared.start();
      billing = createBillingPoller({
        sink: shared,
        config: cost,
        store: st,
        log,
        clock,
        fetch: deps.fetch ?? fetch,
        sleep: deps.sleep ?? realSleep,
        projectOf,
        metrics,
        ...(deps.retry === undefined ? {} : { retry: deps.retry }),
        onCycle: () => void bud.evaluate(),
      });
      const configured = billing.providers();
      queries = createCostQueries({
        nc: deps.nc,
        log,
        budgets: bud,
        report: (req) => buildReport(req, { store: st, clock, projectOf, configuredProviders: configured }),
      });
      let durableName = deps.consumerName;
      if (durableName === undefined) {
        // Before the consumer: a second process with this instance id must not share it.
        const own = await claimOwnConsumer({
          nc: deps.nc,
          role: 'cost-poller',
          config: deps.config,
          log: log,
        });
        ({ durableName, claim } = own);
      }
      spend = createSessionSpend({
        js,
        store: st,
        rates: cost.model_rates,
        log,
        durableName,
        inactiveThresholdSec: deps.config.instances?.consumer_inactive_sec ?? DEFAULT_CONSUMER_INACTIVE_SEC,
        onApplied: () => void bud.evaluate(),
      });
      deps.readiness?.register('db.cost', dbReadinessCheck(database));
      deps.readiness?.register('cost.providers', providersCheck);
      await queries.start();
      await spend.start();
      // Provider billing from one instance only: the holder of the `cost-poller` lease, contended
      // only by instances that have admin keys (one without can never take polling from one with).
      // Budget events from one instance only too: the holder of `cost-budgets`, which every
      // instance contends for (budgets count observed spend, which every instance has).
      const poller = billing;
      const holder = deps.config.instance_id ?? `${hostname()}-${process.pid}`;
      const bucket = await openLeaseBucket(deps.nc, {
        ttlMs: (deps.config.instances?.lease_ttl_sec ?? DEFAULT_LEASE_TTL_SEC) * 1000,
        replicas,
      });
      billingRole =
        configured.length === 0
          ? undefined
          : createLeaderRole({
              bucket,
              key: LeaseName.COST_POLLER,
              holder,
              log,
              work: { start: () => poller.start(), stop: () => poller.stop() },
            });
      budgetsRole = createLeaderRole({
        bucket,
        key: LeaseName.COST_BUDGETS,
        holder,
        log,
        work: {
          start: async () => {
            void bud.evaluate();
          },
          stop: async () => {},
        },
      });
      roles = billingRole === undefined ? [budgetsRole] : [billingRole, budgetsRole];
      deps.readiness?.register('cost.leader', () => ({
        ok: true,
        detail: [
          configured.length === 0
            ? 'no admin keys: never polls billing'
            : polling()
              ? 'active: polls provider billing'
              : 'standby for billing',
          publishing() ? 'publishes budget events' : 'standby for budget events',
        ].join('; '),
      }));
      // Without admin keys the poller only says so (and zeroes its gauge); it never takes the lease.
      if (configured.length === 0) await poller.start();
      for (const r of roles) await r.start();
      // Forecasts move with time alone, and periods roll over at midnight UTC.
      tick = setInterval(() => void bud.evaluate(), BUDGET_TICK_MS);
      tick.unref();
      log.info(
        { providers: configured, budgets: cost.budgets.length, instance: holder, polling: polling() },
        'cost poller started',
      );
    },
    async stop() {
      // Stop every writer before closing the DB: a poll or batch mid-shutdown would hit a closed handle.
      clearInterval(tick);
      // The poll first (while still holding the lease), then the leases go to a standby.
      for (const r of roles.splice(0)) await r.stop();
      billingRole = undefined;
      budgetsRole = undefined;
      await billing?.stop();
      await spend?.stop();
      await queries?.stop();
      await budgets?.evaluate();
      await share?.stop();
      share = undefined;
      deps.readiness?.unregister('cost.leader');
      deps.readiness?.unregister('db.cost');
      deps.readiness?.unregister('cost.providers');
      database?.close();
      database = undefined;
      store = undefined;
      await claim?.release();
      claim = undefined;
      log.info('cost poller stopped');
    },
    pollNow: () => (polling() ? (billing?.pollOnce() ?? Promise.resolve()) : Promise.resolve()),
    isLeader: polling,
    evaluateBudgets: () => budgets?.evaluate() ?? Promise.resolve(),
  };
}

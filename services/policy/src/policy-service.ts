import { hostname } from 'node:os';
import {
  createLeaderRole,
  jetstreamClient,
  type LeaderRole,
  type NatsConnection,
  openLeaseBucket,
  type Server,
} from '@hal/bus';
import type { SupervisorConfig } from '@hal/config';
import {
  type Clock,
  createHalMetrics,
  type Logger,
  type Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
import { LeaseName } from '@hal/protocol';
import { createDecisionLog } from './decision-log.ts';
import { createEngine, SESSION_RULE_NAMES } from './engine.ts';
import { createEnvOnConnect, type EnvOnConnect } from './env-on-connect.ts';
import { createEventConsumer, type EventBatch } from './event-consumer.ts';
import { createNotifier, type NotifierOptions } from './notifier.ts';
import { createOverrides } from './overrides.ts';
import { createPruner, DEFAULT_PRUNE, type Pruner, type PrunerOptions } from './pruner.ts';
import { servePolicyQueries } from './queries.ts';
import { createStartDependents } from './start-dependents.ts';
import { openStateStore } from './state-store.ts';
import { eventsOffset } from './stream-epoch.ts';

export interface PolicyDeps {
  /** `nats.replicas`: of the policy KV bucket (absent: 1). */
  config: Pick<SupervisorConfig, 'policies' | 'routes' | 'webhooks'> &
    Partial<Pick<SupervisorConfig, 'dependencies' | 'instance_id' | 'instances'>> & {
      nats?: Pick<SupervisorConfig['nats'], 'replicas'>;
    };
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  clock?: Clock;
  /** For `webhook#<name>` targets; tests pass one that records. */
  fetch?: typeof globalThis.fetch;
  /** How often tick-based rules and notification digests run. Default 5 s. */
  tickMs?: number;
  /** How long a command may take on the agent. Default 30 s. */
  commandTimeoutMs?: number;
  notify?: Partial<NotifierOptions>;
  /** How long the active instance's event may stay unacked before another gets it (default 10 s). */
  consumerAckWaitMs?: number;
  /** When and what the bucket's pruning removes (tests shorten the grace). */
  prune?: Partial<PrunerOptions>;
  /** Registers `policy.kv` (the bucket every claim and fact goes through) and `policy.leader`. */
  readiness?: Readiness;
}

/** The lease TTL when the config does not say (`instances.lease_ttl_sec`). */
const DEFAULT_LEASE_TTL_SEC = 5;

export interface PolicyService {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Runs one tick now (the timer calls the same) — on the leading instance only; a standby's does nothing. */
  tick(): Promise<void>;
  /** True while this instance is the active one (holds the `policy` lease). */
  isLeader(): boolean;
}

const DEFAULT_NOTIFY: NotifierOptions = {
  collapseWindowMs: 60_000,
  maxEventAgeMs: 10 * 60_000,
  webhookBackoffMs: [500, 2_000, 8_000],
};

/**
 * The policy engine and the notification router. Of N instances one is active — the holder of the
 * `policy` lease (KV HAL_LEASES) — and consumes the shared durable consumer and ticks; the others
 * answer queries and stand by, taking over within the lease's TTL (README: "Several instances").
 * Streams must exist (`ensureStreams`) before start: the gateway or the supervisor creates them.
 */
export function createPolicy(deps: PolicyDeps): PolicyService {
  const log = deps.log.child({ component: 'policy' });
  const clock = deps.clock ?? systemClock;
  const now = () => clock.now();
  const metrics = createHalMetrics(deps.registry);
  const js = jetstreamClient(deps.nc);
  let timer: NodeJS.Timeout | undefined;
  let ticking: Promise<void> | undefined;
  let role: LeaderRole | undefined;
  let parts:
    | {
        engine: ReturnType<typeof createEngine>;
        notifier: ReturnType<typeof createNotifier>;
        consumer: ReturnType<typeof createEventConsumer>;
        overrides: ReturnType<typeof createOverrides>;
        servers: Server[];
        envOnConnect: EnvOnConnect;
        pruner: Pruner;
      }
    | undefined;

  async function tick(): Promise<void> {
    // A standby acts on nothing: the active instance ticks for everyone.
    if (!parts || role?.isLeader() !== true) return;
    // One tick at a time: a slow tick (many sessions, a slow agent) is not overlapped by the next.
    if (ticking) return ticking;
    const p = parts;
    ticking = (async () => {
      try {
        await p.engine.tick();
        await p.notifier.tick();
        await p.pruner.maybeSweep();
      } catch (err) {
        log.error({ err }, 'policy tick failed');
      }
    })().finally(() => {
      ticking = undefined;
    });
    return ticking;
  }

  return {
    tick,
    async start() {
      const store = await openStateStore(deps.nc, deps.config.nats?.replicas);
      deps.readiness?.register('policy.kv', async () => {
        // A status round trip: without the bucket no policy can claim or record anything.
        await store.kv.status();
        return { ok: true };
      });
      const overrides = createOverrides({
        nc: deps.nc,
        store,
        policies: deps.config.policies,
        log,
        ...(deps.config.nats === undefined ? {} : { replicas: deps.config.nats.replicas }),
      });
      await overrides.start();
      const decisions = createDecisionLog({ js, store, log, metrics, now });
      const envOnConnect = createEnvOnConnect({
        nc: deps.nc,
        ...(deps.config.nats === undefined ? {} : { replicas: deps.config.nats.replicas }),
        policies: deps.config.policies,
        overrides,
        decisions,
        log,
        now,
      });
      const startDependents = createStartDependents({
        nc: deps.nc,
        store,
        decisions,
        policies: deps.config.policies,
        dependencies: deps.config.dependencies ?? {},
        overrides,
        log,
        now,
        commandTimeoutMs: deps.commandTimeoutMs ?? 30_000,
      });
      const engine = createEngine({
        envOnConnect,
        startDependents,
        nc: deps.nc,
        store,
        decisions,
        overrides,
        policies: deps.config.policies,
        log,
        now,
        commandTimeoutMs: deps.commandTimeoutMs ?? 30_000,
      });
      const notifier = createNotifier({
        js,
        store,
        routes: deps.config.routes,
        webhooks: deps.config.webhooks,
        log,
        metrics,
        now,
        fetch: deps.fetch ?? globalThis.fetch,
        options: { ...DEFAULT_NOTIFY, ...deps.notify },
        conditions: { nc: deps.nc, store },
      });
      const handle = async (batch: EventBatch) => {
        const [only] = batch;
        if (only !== undefined && batch.length === 1 && only.event.session === null) {
          // A resend past JetStream's duplicate window is a second stream message with the same
          // id, and a new leader replays what the old one handled past the ack floor: neither is
          // told to people again nor counted again (the engine re-checks as it applies).
          if (await engine.isRepeat(only.event, only.seq)) return;
          // Notify first: people hear about an error even if a policy then fails on it.
          await notifier.onEvent(only.event);
          await engine.onEvent(only.event, only.seq);
          return;
        }
        // A session's events: the same, each in turn, with one facts write (and one collapsed
        // count per notification kind) for the batch.
        await engine.onSessionEvents(batch, notifier.batch());
      };
      const consumer = createEventConsumer({
        js,
        log,
        handle,
        ...(deps.consumerAckWaitMs === undefined ? {} : { ackWaitMs: deps.consumerAckWaitMs }),
        stillLeading: () => role?.isLeader() === true,
        positionOffset: () => eventsOffset({ js, store, log }),
      });
      const servers = servePolicyQueries({
        nc: deps.nc,
        routes: deps.config.routes,
        conditions: { nc: deps.nc, store },
        policies: deps.config.policies,
        overrides,
        decisions,
        log,
        now,
      });
      const notify = { ...DEFAULT_NOTIFY, ...deps.notify };
      const pruner = createPruner({
        store,
        nc: deps.nc,
        log,
        now,
        sessionRules: SESSION_RULE_NAMES,
        options: { ...DEFAULT_PRUNE, collapseWindowMs: notify.collapseWindowMs, ...deps.prune },
      });
      parts = { engine, notifier, consumer, overrides, servers, envOnConnect, pruner };
      const bucket = await openLeaseBucket(deps.nc, {
        ttlMs: (deps.config.instances?.lease_ttl_sec ?? DEFAULT_LEASE_TTL_SEC) * 1000,
        replicas: deps.config.nats?.replicas,
      });
      const holder = deps.config.instance_id ?? `${hostname()}-${process.pid}`;
      role = createLeaderRole({
        bucket,
        key: LeaseName.POLICY,
        holder,
        log,
        work: {
          start: async () => {
            // The one writer from now on: what it writes it may remember (state-store.ts).
            store.remember(true);
            // What the previous leader decided but did not see answered, before anything new.
            await engine.recoverIntents();
            await consumer.start();
            timer = setInterval(() => void tick(), deps.tickMs ?? 5_000);
          },
          stop: async () => {
            // Timer first, then the consumer: no tick or event starts once leadership is gone.
            if (timer) clearInterval(timer);
            timer = undefined;
            await ticking;
            await consumer.stop();
            await envOnConnect.drain();
            await notifier.drain();
            store.remember(false);
          },
        },
      });
      deps.readiness?.register('policy.leader', () => ({
        ok: true,
        detail: role?.isLeader() === true ? 'active' : 'standby (another instance is active)',
      }));
      await role.start();
      log.info({ instance: holder, active: role.isLeader() }, 'policy service started');
    },
    async stop() {
      // The leader's work first (timer, then the consumer: a tick or an event mid-shutdown would act
      // on a closing connection), then the lease is released so a standby takes over at once.
      await role?.stop();
      role = undefined;
      deps.readiness?.unregister('policy.leader');
      const p = parts;
      parts = undefined;
      if (!p) return;
      await Promise.all(p.servers.map((s) => s.stop()));
      await p.overrides.stop();
      log.info('policy service stopped');
    },
    isLeader: () => role?.isLeader() === true,
  };
}

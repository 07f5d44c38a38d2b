import { randomUUID } from 'node:crypto';
import {
  createLeaderRole,
  type JsMsg,
  jetstreamClient,
  type LeaderRole,
  type NatsConnection,
  openLeaseBucket,
} from '@hal/bus';
import { type CommandLayer, createCommandLayer } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Backoff, Clock, Lifecycle, Logger, Readiness, Registry } from '@hal/observability';
import { LeaseName, StreamName, subjects } from '@hal/protocol';
import { Client, Events, GatewayIntentBits, Routes } from 'discord.js';
import { createAlerts } from './alerts.ts';
import { createBridgeMetrics } from './bridge-metrics.ts';
import { openBridgeStore } from './bridge-store.ts';
import { createDailyReport } from './daily-report.ts';
import { createDurableConsumer, type DurableConsumer, type Outcome } from './durable-consumer.ts';
import { createInteractionHandler } from './interactions.ts';
import { createSessionThreads } from './session-threads.ts';
import { SLASH_COMMANDS } from './slash-commands.ts';

/** Durable consumers of the active instance (the holder of the `discord-bridge` lease). */
export const BridgeConsumer = {
  NOTIFY: 'hal-discord-bridge',
  SESSIONS: 'hal-discord-bridge-sessions',
  REPLIES: 'hal-discord-bridge-replies',
} as const;

export interface DiscordBridgeDeps {
  /**
   * `nats.replicas`: of the bridge's KV buckets (absent: 1). `instances.lease_ttl_sec`: the lease of
   * the one instance that posts (default 5 s); `instance_id` names it.
   */
  config: {
    discord: DiscordConfig;
    audit: { enabled: boolean };
    nats?: { replicas: number };
    instances?: { lease_ttl_sec: number };
    instance_id?: string | undefined;
  };
  nc: NatsConnection;
  log: Logger;
  readiness?: Readiness;
  clock?: Clock;
  /** Retry of a post while Discord is unreachable. Default 1 s doubling to 30 s. */
  backoff?: Backoff;
  /** A `posting` claim older than this is taken over. Default 30 s. */
  claimTimeoutMs?: number;
  /** How often the daily report checks the hour, after a first check at start. Default 60 s. */
  reportTickMs?: number;
  /** Of the bridge's consumers: what a dead leader was given is delivered again after this. Default 10 s. */
  ackWaitMs?: number;
  /** `/metrics`: the `hal_o_swarm_discord_*` counters go here (absent: not counted). */
  registry?: Registry;
  /** Called when an interaction has been handled (kind, ms from receipt, ok). */
  onInteraction?: (kind: string, ms: number, ok: boolean) => void;
}

export interface DiscordBridge extends Lifecycle {
  /** The discord.js client (tests wait on its readiness). */
  readonly client: Client;
  readonly layer: CommandLayer;
  /** Runs the daily-report check now (the timer calls the same). */
  reportTick(): Promise<boolean>;
  /** True while this instance is the one that posts (holds the `discord-bridge` lease). */
  isLeader(): boolean;
}

const LOGIN_RETRY_MS = [1_000, 2_000, 5_000, 10_000, 30_000];

/**
 * One bot for the whole fleet: alerts from HAL_NOTIFY with buttons, session threads from
 * HAL_EVENTS, slash commands, and a daily cost report — every action through the command layer
 * (role check, target resolution, audit) that the HTTP API uses too. Discord being unreachable
 * never fails start(): the client keeps reconnecting and notifications wait in the stream.
 */
export function createDiscordBridge(deps: DiscordBridgeDeps): DiscordBridge {
  const cfg = deps.config.discord;
  const log = deps.log.child({ component: 'discord-bridge' });
  const now = () => (deps.clock ?? { now: Date.now }).now();
  const instance = randomUUID();
  const backoff = deps.backoff ?? { initialMs: 1_000, maxMs: 30_000 };
  const claimTimeoutMs = deps.claimTimeoutMs ?? 30_000;
  const layer = createCommandLayer({
    nc: deps.nc,
    log,
    auditEnabled: deps.config.audit.enabled,
    source: 'discord',
  });
  const client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    rest: { api: cfg.api_url },
  });
  // Posting must work even before (or without) a gateway session: the REST client needs the token now.
  client.rest.setToken(cfg.bot_token);
  const metrics = createBridgeMetrics(deps.registry);
  metrics.watchRest(client.rest);
  const consumers: DurableConsumer[] = [];
  let role: LeaderRole | undefined;
  const leading = () => role?.isLeader() === true;
  // Checked before each post: an instance that lost the lease (a stall) hands the message back.
  const gated =
    (handle: (msg: JsMsg) => Promise<Outcome>) =>
    (msg: JsMsg): Promise<Outcome> =>
      leading() ? handle(msg) : Promise.resolve({ retryInMs: backoff.initialMs });
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let loginAttempt: Promise<void> | undefined;
  let report: ReturnType<typeof createDailyReport> | undefined;

  async function registerCommands(): Promise<void> {
    const appId = client.application?.id;
    if (!appId) return;
    try {
      await client.rest.put(Routes.applicationGuildCommands(appId, cfg.guild_id), {
        body: SLASH_COMMANDS.map((c) => c.body),
      });
      log.info({ commands: SLASH_COMMANDS.length }, 'guild commands registered');
    } catch (err) {
      log.error({ err }, 'registering guild commands failed; retried on the next reconnect');
    }
  }

  async function login(): Promise<void> {
    for (let attempt = 0; !stopped; attempt++) {
      try {
        await client.login(cfg.bot_token);
        return;
      } catch (err) {
        const delay = LOGIN_RETRY_MS[Math.min(attempt, LOGIN_RETRY_MS.length - 1)]!;
        log.warn({ err, retry_in_ms: delay }, 'discord login failed');
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  return {
    client,
    layer,
    reportTick: () => (leading() ? (report?.tick() ?? Promise.resolve(false)) : Promise.resolve(false)),
    isLeader: leading,
    async start() {
      const store = await openBridgeStore(deps.nc, deps.config.nats?.replicas);
      const js = jetstreamClient(deps.nc);
      const common = { config: cfg, rest: client.rest, store, layer, log, now, instance };
      const alerts = createAlerts({ ...common, claimTimeoutMs, metrics });
      const threads = createSessionThreads({ ...common, claimTimeoutMs });
      report = createDailyReport(common);
      const onInteraction = createInteractionHandler({
        config: cfg,
        layer,
        store,
        alerts,
        log,
        now,
        metrics,
        ...(deps.onInteraction ? { onHandled: deps.onInteraction } : {}),
      });
      client.on(Events.InteractionCreate, (i) => void onInteraction(i));
      client.on(
        Events.MessageCreate,
        (m) => void threads.onMessage(m).catch((err) => log.error({ err }, 'thread message failed')),
      );
      client.on(Events.ClientReady, () => void registerCommands());
      client.on(Events.ShardResume, () => log.info('discord gateway resumed'));
      client.on(Events.Error, (err) => log.warn({ err }, 'discord client error'));
      deps.readiness?.register('discord', () =>
        client.isReady()
          ? { ok: true }
          : { ok: true, detail: 'degraded: Discord gateway not connected (alerts wait in HAL_NOTIFY)' },
      );

      // Posting (alerts, session threads, the daily report) is done by one instance: the holder of
      // the lease. Every instance stays logged in: interactions go to all, and the one whose
      // acknowledgement Discord accepts answers.
      const makeConsumers = (): DurableConsumer[] => {
        const made = [
          createDurableConsumer({
            js,
            stream: StreamName.NOTIFY,
            durable: BridgeConsumer.NOTIFY,
            filter: subjects.notifyFilter('discord'),
            log,
            backoff,
            ackWaitMs: deps.ackWaitMs,
            handle: gated(alerts.handle),
          }),
        ];
        if (Object.keys(cfg.project_channels).length > 0) {
          for (const [durable, type] of [
            [BridgeConsumer.SESSIONS, 'session.created'],
            [BridgeConsumer.REPLIES, 'message.part'],
          ] as const) {
            made.push(
              createDurableConsumer({
                js,
                stream: StreamName.EVENTS,
                durable,
                filter: subjects.eventFilter({ type }),
                log,
                backoff,
                ackWaitMs: deps.ackWaitMs,
                handle: gated(threads.handle),
              }),
            );
          }
        }
        return made;
      };
      role = createLeaderRole({
        bucket: await openLeaseBucket(deps.nc, {
          ttlMs: (deps.config.instances?.lease_ttl_sec ?? 5) * 1000,
          replicas: deps.config.nats?.replicas,
        }),
        key: LeaseName.DISCORD_BRIDGE,
        holder: deps.config.instance_id ?? instance,
        log,
        work: {
          start: async () => {
            const made = makeConsumers();
            consumers.push(...made);
            for (const c of made) await c.start();
            if (cfg.daily_report) {
              const check = () =>
                void report
                  ?.tick()
                  .catch((err) => log.warn({ err }, 'daily report failed; retried next tick'));
              // A bridge that starts (or takes over) past the hour posts a missing report now, not a tick later.
              check();
              timer = setInterval(check, deps.reportTickMs ?? 60_000);
            }
          },
          stop: async () => {
            if (timer) clearInterval(timer);
            timer = undefined;
            // A post in flight finishes (or is handed back) before another instance takes over.
            for (const c of consumers.splice(0)) await c.stop();
          },
        },
      });
      await role.start();
      loginAttempt = login();
      log.info({ instance, active: leading() }, 'discord bridge started');
    },
    async stop() {
      stopped = true;
      // Consumers first (the leader's work), then the lease: a post in flight finishes (or is
      // handed back) before a standby takes over and before the client goes.
      await role?.stop();
      role = undefined;
      await loginAttempt?.catch(() => undefined);
      await client.destroy();
      log.info('discord bridge stopped');
    },
  };
}

/** What runs in place of the bridge when `channels.discord` is absent: `/readyz` says so, and stays ready. */
export function notConfiguredBridge(readiness: Readiness | undefined): Lifecycle {
  return {
    async start() {
      readiness?.register('discord', () => ({
        ok: true,
        detail: 'not configured (no channels.discord in the config)',
      }));
    },
    async stop() {
      readiness?.unregister('discord');
    },
  };
}

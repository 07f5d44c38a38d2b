import { randomUUID } from 'node:crypto';
import { jetstreamClient, type NatsConnection } from '@hal/bus';
import { type CommandLayer, createCommandLayer } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Clock, Lifecycle, Logger, Readiness, Registry } from '@hal/observability';
import { StreamName, subjects } from '@hal/protocol';
import { Client, Events, GatewayIntentBits, Routes } from 'discord.js';
import { createAlerts } from './alerts.ts';
import { createBridgeMetrics } from './bridge-metrics.ts';
import { openBridgeStore } from './bridge-store.ts';
import { createDailyReport } from './daily-report.ts';
import { type Backoff, createDurableConsumer, type DurableConsumer } from './durable-consumer.ts';
import { createInteractionHandler } from './interactions.ts';
import { createSessionThreads } from './session-threads.ts';
import { SLASH_COMMANDS } from './slash-commands.ts';

/** Durable consumers every instance shares (each message is handled by one of them). */
export const BridgeConsumer = {
  NOTIFY: 'hal-discord-bridge',
  SESSIONS: 'hal-discord-bridge-sessions',
  REPLIES: 'hal-discord-bridge-replies',
} as const;

export interface DiscordBridgeDeps {
  /** `nats.replicas`: of the bridge's KV buckets (absent: 1). */
  config: { discord: DiscordConfig; audit: { enabled: boolean }; nats?: { replicas: number } };
  nc: NatsConnection;
  log: Logger;
  readiness?: Readiness;
  clock?: Clock;
  /** Retry of a post while Discord is unreachable. Default 1 s doubling to 30 s. */
  backoff?: Backoff;
  /** A `posting` claim older than this is taken over. Default 30 s. */
  claimTimeoutMs?: number;
  /** How often the daily report checks the hour. Default 60 s. */
  reportTickMs?: number;
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
    reportTick: () => report?.tick() ?? Promise.resolve(false),
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

      consumers.push(
        createDurableConsumer({
          js,
          stream: StreamName.NOTIFY,
          durable: BridgeConsumer.NOTIFY,
          filter: subjects.notifyFilter('discord'),
          log,
          backoff,
          handle: alerts.handle,
        }),
      );
      if (Object.keys(cfg.project_channels).length > 0) {
        for (const [durable, type] of [
          [BridgeConsumer.SESSIONS, 'session.created'],
          [BridgeConsumer.REPLIES, 'message.part'],
        ] as const) {
          consumers.push(
            createDurableConsumer({
              js,
              stream: StreamName.EVENTS,
              durable,
              filter: subjects.eventFilter({ type }),
              log,
              backoff,
              handle: threads.handle,
            }),
          );
        }
      }
      for (const c of consumers) await c.start();
      loginAttempt = login();
      if (cfg.daily_report) {
        timer = setInterval(
          () =>
            void report?.tick().catch((err) => log.warn({ err }, 'daily report failed; retried next tick')),
          deps.reportTickMs ?? 60_000,
        );
      }
      log.info({ instance }, 'discord bridge started');
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      // Consumers first: a post in flight finishes (or is handed back) before the client goes.
      for (const c of consumers.splice(0)) await c.stop();
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

// A real nats-server with the streams, the testkit's fake Discord (channels alerts, web, reports;
// roles viewer, operator, admin), and bridges built the way the supervisor builds them.
import { randomUUID } from 'node:crypto';
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection } from '@hal/bus';
import { type DiscordConfig, parseConfig } from '@hal/config';
import { createLogger, Readiness, type Registry } from '@hal/observability';
import { type Notification, notificationSchema, subjects } from '@hal/protocol';
import {
  type DiscordTestUser,
  type FakeDiscord,
  type NatsServer,
  startFakeDiscord,
  startNats,
  waitFor,
} from '@hal/testkit';
import { createDiscordBridge, type DiscordBridge } from '../src/index.ts';

export const log = createLogger({ service: 'discord-test', level: process.env.HAL_TEST_LOG ?? 'silent' });

export interface BridgeHarness {
  nats: NatsServer;
  nc: NatsConnection;
  discord: FakeDiscord;
  config: DiscordConfig;
  users: {
    viewer: DiscordTestUser;
    operator: DiscordTestUser;
    admin: DiscordTestUser;
    stranger: DiscordTestUser;
  };
  /** Starts one more bridge instance and waits until its bot is connected. */
  startBridge(opts?: { readiness?: Readiness; registry?: Registry }): Promise<DiscordBridge>;
  stopBridge(b: DiscordBridge): Promise<void>;
  notify(overrides?: Partial<Notification>): Promise<Notification>;
  close(): Promise<void>;
}

export async function startBridgeHarness(
  opts: { discord?: Record<string, unknown>; interactionDeadlineMs?: number } = {},
): Promise<BridgeHarness> {
  const nats = await startNats();
  const nc = await connectBus({ url: nats.url, name: 'discord-test', log });
  await ensureStreams(nc);
  const discord = await startFakeDiscord({
    guild: {
      channels: [{ name: 'alerts' }, { name: 'web' }, { name: 'reports' }],
      roles: [{ name: 'hal-viewer' }, { name: 'hal-operator' }, { name: 'hal-admin' }],
    },
    heartbeatIntervalMs: 5_000,
    ...(opts.interactionDeadlineMs === undefined
      ? {}
      : { interactionDeadlineMs: opts.interactionDeadlineMs }),
  });
  const config = parseConfig(
    'supervisor',
    {
      server: { auth_token: 'discord-test-token-0123456789' },
      channels: {
        discord: {
          bot_token: discord.token,
          guild_id: discord.guildId,
          channels: { alerts: discord.channelId('alerts'), 'dev-log': discord.channelId('alerts') },
          roles: {
            viewer: discord.roleId('hal-viewer'),
            operator: discord.roleId('hal-operator'),
            admin: discord.roleId('hal-admin'),
          },
          project_channels: { web: discord.channelId('web') },
          daily_report: { channel: discord.channelId('reports'), hour_utc: 0 },
          api_url: discord.apiUrl,
          ...opts.discord,
        },
      },
    },
    { env: {} },
  ).channels.discord!;
  const bridges = new Set<DiscordBridge>();
  const users = {
    viewer: discord.user('vera', [discord.roleId('hal-viewer')]),
    operator: discord.user('otto', [discord.roleId('hal-operator')]),
    admin: discord.user('ada', [discord.roleId('hal-admin')]),
    stranger: discord.user('sam', []),
  };
  return {
    nats,
    nc,
    discord,
    config,
    users,
    async startBridge(o = {}) {
      const b = createDiscordBridge({
        config: { discord: config, audit: { enabled: true } },
        nc,
        log,
        readiness: o.readiness ?? new Readiness(),
        ...(o.registry ? { registry: o.registry } : {}),
        backoff: { initialMs: 100, maxMs: 1_000 },
        claimTimeoutMs: 5_000,
      });
      bridges.add(b);
      await b.start();
      await waitFor(() => b.client.isReady(), { message: 'bridge bot connected to the fake Discord' });
      return b;
    },
    async stopBridge(b) {
      bridges.delete(b);
      await b.stop();
    },
    async notify(overrides = {}) {
      const n = notificationSchema.parse({
        id: randomUUID(),
        time: new Date().toISOString(),
        channel: 'discord',
        route: 'alerts',
        severity: 'critical',
        kind: 'session.error',
        title: 'Session error: APIError',
        body: 'the provider answered 500',
        fields: [],
        actions: [],
        node: 'alpha',
        project: 'web',
        session: 'ses_test',
        ...overrides,
      });
      await jetstreamClient(nc).publish(subjects.notify(n.channel, n.route), JSON.stringify(n), {
        msgID: n.id,
      });
      return n;
    },
    async close() {
      for (const b of bridges) await b.stop();
      await discord.stop();
      await nc.close();
      await nats.stop();
    },
  };
}

/** Alerts posted to a channel: non-ephemeral bot messages with an embed. */
export function alertMessages(discord: FakeDiscord, channel = 'alerts') {
  return discord
    .messages(discord.channelId(channel))
    .filter(
      (m) =>
        m.author.id === discord.bot.id &&
        m.embeds.length > 0 &&
        (m.flags & 64) === 0 &&
        !m.interaction_metadata,
    );
}

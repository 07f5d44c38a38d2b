// Set-up of the services chaos test: one config for every instance (policies that act, a budget
// that alerts, routes to a fake Discord), the instances that will be killed started first as
// processes of their own so they hold the leases, and what the test reads back (lease holders,
// consumer lag, Discord's alert messages).
import { jetstreamClient, type NatsConnection } from '@hal/bus';
import { LEASES_KV_BUCKET } from '@hal/protocol';
import type { FakeDiscord } from '@hal/testkit';
import { TOKEN } from './cluster-harness.ts';
import { type ServiceProcess, type SplitService, startServiceProcess } from './service-process.ts';

/** Short leases so a killed leader is replaced within the reconnect window many times over. */
export const LEASE_TTL_SEC = 1.5;
export const SESSION_BUDGET_USD = 1;

/** What every instance (processes and the in-process control plane) is configured with. */
export function sharedConfig(discord: FakeDiscord): Record<string, unknown> {
  return {
    instances: { lease_ttl_sec: LEASE_TTL_SEC },
    policies: {
      // One resume per idle session, ever: a second one is an action taken twice.
      resume_on_idle: { enabled: true, idle_threshold_seconds: 1, max_retries: 1, cooldown_seconds: 0 },
    },
    cost: { budgets: [{ name: 'session-cap', scope: 'session', limit_usd: SESSION_BUDGET_USD }] },
    routes: [
      { match: 'session.error', target: 'discord#alerts' },
      { match: 'cost.*', target: 'discord#alerts' },
    ],
    channels: {
      discord: {
        bot_token: discord.token,
        guild_id: discord.guildId,
        channels: { alerts: discord.channelId('alerts') },
        api_url: discord.apiUrl,
      },
    },
  };
}

/** A service instance as its own process on the cluster, named by its instance id. */
export function startInstance(opts: {
  service: SplitService;
  instanceId: string;
  dir: string;
  natsUrl: string;
  shared: Record<string, unknown>;
}): Promise<ServiceProcess> {
  return startServiceProcess({
    service: opts.service,
    name: opts.instanceId,
    dir: opts.dir,
    config: {
      ...opts.shared,
      instance_id: opts.instanceId,
      nats: { url: opts.natsUrl, replicas: 3 },
      server: { auth_token: TOKEN },
      heartbeat_interval_sec: 1,
      heartbeat_timeout_count: 3,
    },
  });
}

/** The instance holding a lease now (KV HAL_LEASES), or undefined when nobody does. */
export async function leaseHolder(nc: NatsConnection, key: string): Promise<string | undefined> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  try {
    const m = await jsm.streams.getMessage(`KV_${LEASES_KV_BUCKET}`, {
      last_by_subj: `$KV.${LEASES_KV_BUCKET}.${key}`,
    });
    return m === null || m.data.length === 0 ? undefined : m.json<{ holder?: string }>().holder;
  } catch {
    return undefined; // never taken, or expired by the bucket's TTL
  }
}

/**
 * Pending + unacked of every durable consumer on `stream`: 0 once every service caught up. The
 * consumers of instances in `gone` (named `…-<instance id>`, dead and not restarted) are left out.
 */
export async function consumersLag(
  nc: NatsConnection,
  stream: string,
  gone: readonly string[] = [],
): Promise<number> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  let lag = 0;
  for await (const c of jsm.consumers.list(stream)) {
    const name = c.config.durable_name;
    if (name === undefined || gone.some((id) => name.endsWith(`-${id}`))) continue;
    lag += c.num_pending + c.num_ack_pending;
  }
  return lag;
}

/** The notification id of each bot message in #alerts (footer `<kind> · <id>`). */
export function alertFooterIds(discord: FakeDiscord): string[] {
  return discord
    .messages(discord.channelId('alerts'))
    .filter((m) => m.author.id === discord.bot.id && m.embeds.length > 0)
    .map(
      (m) => String((m.embeds[0]?.footer as { text?: string } | undefined)?.text ?? '').split(' · ')[1] ?? '',
    );
}

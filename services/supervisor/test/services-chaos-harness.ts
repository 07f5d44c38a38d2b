// Set-up of the services chaos test: one config for every instance (policies that act, a budget
// that alerts, routes to a fake Discord), the instances that will be killed started first as
// processes of their own so they hold the leases, and what the test reads back (lease holders,
// consumer lag, Discord's alert messages).
import { jetstreamClient, type NatsConnection } from '@hal/bus';
import { type EventRecord, LEASES_KV_BUCKET, type Notification, StreamName } from '@hal/protocol';
import { type FakeDiscord, waitFor } from '@hal/testkit';
import { type SimAgent, streamRecords, TOKEN } from './cluster-harness.ts';
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
}): Promise<ServiceProcess & { config: Record<string, unknown> }> {
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

/** A session of a simulated host, as the services tests drive them. */
export interface HostSession {
  agent: SimAgent;
  id: string;
}

/** `perAgent` sessions on each host: created, busy, and a first answer costing 60 % of the budget. */
export function openSessions(agents: readonly SimAgent[], perAgent: number): HostSession[] {
  const sessions = agents.flatMap((agent) =>
    Array.from({ length: perAgent }, (_, s) => ({ agent, id: `ses_${agent.node.replace('-', '_')}_${s}` })),
  );
  for (const s of sessions) {
    s.agent.emit(s.id, 'session.created', { title: s.id });
    s.agent.emit(s.id, 'session.busy', {});
    answered(s, 1);
  }
  return sessions;
}

/** The session's n-th answer, 60 % of its budget: the second one crosses it. */
export function answered(s: HostSession, n: number): void {
  s.agent.emit(s.id, 'message.completed', {
    message_id: `msg_${s.id}_${n}`,
    model: 'gpt-5',
    provider: 'openai',
    tokens: { input: 1000, output: 200, reasoning: 0, cache_read: 0, cache_write: 0 },
    cost_usd: SESSION_BUDGET_USD * 0.6,
  });
}

/**
 * Waits until every session (each went idle and crossed its budget once) was resumed and every
 * service caught up, then returns the problems: a resume, an acted policy.action or a
 * cost.budget_exceeded not exactly once per session, a notification posted twice or not from HAL_NOTIFY.
 */
export async function actedOnceProblems(
  nc: NatsConnection,
  sessions: readonly HostSession[],
  discord: FakeDiscord,
  gone: readonly string[] = [],
): Promise<{ problems: string[]; acted: number; exceeded: number; posted: number }> {
  const resumes = (s: HostSession) =>
    s.agent.commands.filter((c) => 'session' in c && c.session === s.id && c.type === 'resume').length;
  await waitFor(() => sessions.every((s) => resumes(s) >= 1), {
    timeoutMs: 30_000,
    message: 'the policy resumed every idle session',
  });
  await waitFor(async () => (await consumersLag(nc, StreamName.EVENTS, gone)) === 0, {
    timeoutMs: 60_000,
    message: 'every consumer of HAL_EVENTS caught up after the resumes',
  });
  await waitFor(async () => (await consumersLag(nc, StreamName.NOTIFY)) === 0, {
    // Discord's channel rate limit paces the posts (the fake enforces it): ~1 a second.
    timeoutMs: 90_000,
    message: 'the bridge handled every notification',
  });
  const records = (await streamRecords<EventRecord>(nc, StreamName.EVENTS)).map((m) => m.record);
  const acted = records.filter((e) => e.type === 'policy.action' && e.data.decision === 'acted');
  const exceeded = records.filter((e) => e.type === 'cost.budget_exceeded');
  const problems: string[] = [];
  for (const s of sessions) {
    const counts = {
      resume: resumes(s),
      'acted policy.action': acted.filter((e) => e.session === s.id).length,
      'cost.budget_exceeded': exceeded.filter((e) => e.session === s.id).length,
    };
    for (const [what, n] of Object.entries(counts)) if (n !== 1) problems.push(`${s.id}: ${n} × ${what}`);
  }
  const notified = new Set(
    (await streamRecords<Notification>(nc, StreamName.NOTIFY)).map((m) => m.record.id),
  );
  const posted = alertFooterIds(discord);
  if (posted.length === 0) problems.push('no alert posted');
  for (const [i, id] of posted.entries()) {
    if (posted.indexOf(id) !== i) problems.push(`notification ${id} posted twice`);
    if (!notified.has(id)) problems.push(`message ${id} is no notification of HAL_NOTIFY`);
  }
  return { problems, acted: acted.length, exceeded: exceeded.length, posted: posted.length };
}

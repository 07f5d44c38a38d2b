import { connectBus, ensureStreams, request } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createDiscordBridge } from '@hal/discord-bridge';
import { createGateway, createHttpApi } from '@hal/gateway';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { commandRequestSchema, subjects } from '@hal/protocol';
import { startFakeDiscord, waitFor } from '@hal/testkit';
import { z } from 'zod';
import { benchAgent, benchTracker } from './fixtures.ts';
import type { BenchContext } from './harness.ts';
import { nowMs, percentile } from './stats.ts';

const TOKEN = 'bench-discord-token-0123456789';
const NODE = 'bench-agent';
const PROJECT = 'bench';

export default async function discord(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-discord', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-discord', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const waiters = new Map<string, (t: number) => void>();
  const reached = (key: string) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(key);
        reject(new Error(`prompt ${key} never reached opencode`));
      }, 10_000);
      waiters.set(key, (t) => {
        clearTimeout(timer);
        waiters.delete(key);
        resolve(t);
      });
    });

  const registry = () => createRegistry({ defaultMetrics: false });
  const tracker = await benchTracker(ctx, { nc, log, registry: registry() });
  await tracker.start();
  const gw = createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0, auth_token: TOKEN },
      heartbeat_interval_sec: 600,
      heartbeat_timeout_count: 3,
      security: { tls: { enabled: false }, origin_allowlist: [], node_tokens: {} },
    },
    nc,
    log,
    registry: registry(),
    gatewayId: 'bench-gw',
    stopGraceMs: 200,
  });
  await gw.start();
  ctx.defer(() => gw.stop());
  // Audit on for both paths: every action of either front-end writes its record.
  const httpApi = createHttpApi({
    config: {
      server: {
        http_host: '127.0.0.1',
        http_port: 0,
        auth_token: TOKEN,
        max_body_bytes: 1_048_576,
        metrics_public: false,
      },
      security: { api_tokens: [], audit: { enabled: true } },
    },
    nc,
    log,
    registry: registry(),
    readiness: new Readiness(),
  });
  await httpApi.start();
  ctx.defer(() => httpApi.stop());

  const { opencode } = await benchAgent(ctx, {
    gatewayPort: gw.address().port,
    token: TOKEN,
    node: NODE,
    project: PROJECT,
    log,
  });
  // Every prompt opencode receives wakes whoever waits for its text.
  const push = opencode.requests.push.bind(opencode.requests);
  opencode.requests.push = (...items) => {
    const t = nowMs();
    for (const r of items) {
      const text = JSON.stringify(r.body ?? '');
      for (const [key, wake] of waiters) if (text.includes(key)) wake(t);
    }
    return push(...items);
  };

  const fake = await startFakeDiscord({ guild: { channels: [{ name: 'alerts' }], roles: [{ name: 'op' }] } });
  ctx.defer(() => fake.stop());
  const bridge = createDiscordBridge({
    config: {
      discord: parseConfig('supervisor', {
        server: { auth_token: TOKEN },
        channels: {
          discord: {
            bot_token: fake.token,
            guild_id: fake.guildId,
            channels: { alerts: fake.channelId('alerts') },
            roles: { operator: fake.roleId('op') },
            api_url: fake.apiUrl,
          },
        },
      }).channels.discord!,
      audit: { enabled: true },
    },
    nc,
    log,
  });
  await bridge.start();
  ctx.defer(() => bridge.stop());
  await waitFor(() => bridge.client.isReady() && fake.commands().length > 0, { message: 'bot ready' });
  const user = fake.user('bench', [fake.roleId('op')]);

  // A session the tracker knows, so both paths resolve it the same way.
  const started = await waitFor(
    () =>
      request(
        nc,
        subjects.command(NODE),
        commandRequestSchema.parse({
          command: { type: 'start', project: PROJECT },
          actor: { kind: 'user', id: 'bench' },
        }),
        z.object({ session: z.string() }),
        { timeoutMs: 6_000 },
      ),
    { timeoutMs: 15_000, message: 'agent answers a start' },
  );
  const session = started.session;
  await waitFor(async () => {
    const r = await fetch(`http://127.0.0.1:${httpApi.address().port}/api/v1/sessions/${session}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return r.status === 200;
  });

  const viaApi = async (i: number) => {
    const key = `api-${i}-${Math.random().toString(36).slice(2)}`;
    const seen = reached(key);
    const t0 = nowMs();
    const res = await fetch(`http://127.0.0.1:${httpApi.address().port}/api/v1/sessions/${session}/inject`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: key }),
    });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`inject answered ${res.status}`);
    return (await seen) - t0;
  };
  const viaDiscord = async (i: number) => {
    const key = `dc-${i}-${Math.random().toString(36).slice(2)}`;
    const seen = reached(key);
    const t0 = nowMs();
    const sent = fake.runCommand({ name: 'inject', options: { target: session, message: key }, user });
    const t = await seen;
    // The answer must come too, before the next sample.
    await waitFor(() => {
      const it = fake.interaction(sent.id);
      const m = it?.originalId ? fake.message(it.originalId) : undefined;
      return m && (m.flags & 128) === 0;
    });
    return t - t0;
  };

  const count = ctx.size(300, 20);
  const warmup = ctx.size(30, 5);
  const api: number[] = [];
  const dc: number[] = [];
  const deadline = nowMs() + 60_000;
  for (let i = 0; i < warmup + count && nowMs() < deadline; i++) {
    const a = await viaApi(i);
    const d = await viaDiscord(i);
    if (i >= warmup) {
      api.push(a);
      dc.push(d);
    }
  }
  if (dc.length < count) ctx.log(`discord: only ${dc.length} of ${count} samples in budget`);
  for (const q of [50, 99] as const) {
    ctx.record({
      name: `discord.inject.interaction_to_opencode.p${q}`,
      value: percentile(dc, q),
      unit: 'ms',
      baseline: { name: `api.inject.request_to_opencode.p${q}`, value: percentile(api, q), unit: 'ms' },
      goal: { op: '<=', value: 1.5 },
    });
  }
}

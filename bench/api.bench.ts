import { connectBus, ensureStreams, jetstreamClient } from '@hal/bus';
import { createHttpApi } from '@hal/gateway';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import Fastify from 'fastify';
import { benchTracker, seedSessions } from './fixtures.ts';
import type { BenchContext } from './harness.ts';
import { nowMs, percentile, sampleLatencies } from './stats.ts';

const TOKEN = 'bench-admin-token-0123456789';

async function p99(url: string, headers: Record<string, string>, count: number): Promise<number> {
  const once = async (): Promise<void> => {
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
    await res.arrayBuffer();
  };
  return percentile(await sampleLatencies(once, { count, budgetMs: 15_000 }), 99);
}

export default async function api(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-api', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-api', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const js = jetstreamClient(nc);

  const sessions = ctx.size(10_000, 500);
  const start = Date.now();
  await seedSessions(js, sessions, start);

  const tracker = await benchTracker(ctx, { nc, log, registry: createRegistry({ defaultMetrics: false }) });
  await tracker.start();
  const deadline = nowMs() + 120_000;
  while (tracker.appliedSeq() < sessions) {
    if (nowMs() > deadline) throw new Error(`tracker applied ${tracker.appliedSeq()} of ${sessions}`);
    await new Promise((r) => setTimeout(r, 10));
  }

  const httpApi = createHttpApi({
    config: {
      server: {
        http_host: '127.0.0.1',
        http_port: 0,
        auth_token: TOKEN,
        max_body_bytes: 1_048_576,
        metrics_public: false,
      },
      security: { api_tokens: [], audit: { enabled: false } },
    },
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    readiness: new Readiness(),
  });
  await httpApi.start();
  ctx.defer(() => httpApi.stop());

  const hello = Fastify({ logger: false });
  hello.get('/hello', async () => ({ hello: 'world' }));
  await hello.listen({ host: '127.0.0.1', port: 0 });
  ctx.defer(() => hello.close());
  const helloPort = (hello.server.address() as { port: number }).port;

  const count = ctx.size(2_000, 100);
  const helloP99 = await p99(`http://127.0.0.1:${helloPort}/hello`, {}, count);
  const { port } = httpApi.address();
  const listP99 = await p99(
    `http://127.0.0.1:${port}/api/v1/sessions`,
    { authorization: `Bearer ${TOKEN}` },
    count,
  );
  ctx.log(
    `api: ${sessions} sessions, list p99 ${listP99.toFixed(2)} ms, hello p99 ${helloP99.toFixed(2)} ms`,
  );
  ctx.record({
    name: `api.sessions.list.p99_${sessions}_sessions_real_tracker`,
    value: listP99,
    unit: 'ms',
    baseline: { name: 'fastify.hello.p99', value: helloP99, unit: 'ms' },
    goal: { op: '<=', value: 10 },
  });
}

// HTTP API read path: `GET /api/v1/sessions` (default page of 50) with 10,000 sessions in the
// REAL tracker (SQLite projection, answering over NATS), as a multiple of a fastify
// hello-world's p99 measured in the same run with the same HTTP client. The ratio is the cost
// of auth + validation + a NATS round trip + the tracker's query + the envelope.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { connectBus, ensureStreams, jetstreamClient, publishEvent } from '@hal/bus';
import { createHttpApi } from '@hal/gateway';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { createTracker } from '@hal/tracker';
import Fastify from 'fastify';
import type { BenchContext } from './harness.ts';
import { nowMs, percentile, runWindowed, sampleLatencies } from './stats.ts';

const TOKEN = 'bench-admin-token-0123456789';

function sessionCreated(i: number, start: number): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: i,
    node: `node-${i % 10}`,
    project: `project-${i % 25}`,
    session: `ses_${String(i).padStart(6, '0')}`,
    type: 'session.created',
    time: new Date(start + i).toISOString(),
    data: { title: `bench session ${i}`, directory: `/srv/project-${i % 25}` },
  };
}

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
  const published = await runWindowed((i) => publishEvent(js, sessionCreated(i, start)), {
    count: sessions,
    budgetMs: 60_000,
    window: 1_000,
  });
  if (published.sent < sessions) throw new Error(`only ${published.sent} of ${sessions} sessions published`);

  const dir = await ctx.tmpDir();
  const tracker = createTracker({
    config: {
      data_dir: join(dir, 'data'),
      heartbeat_interval_sec: 30,
      heartbeat_timeout_count: 3,
      security: { audit: { retention_days: 90 } },
    },
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
  });
  ctx.defer(() => tracker.stop());
  await tracker.start();
  const deadline = nowMs() + 120_000;
  while (tracker.appliedSeq() < published.sent) {
    if (nowMs() > deadline) throw new Error(`tracker applied ${tracker.appliedSeq()} of ${published.sent}`);
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

// Ingest with two gateways against raw JetStream with two publishers, in the same run: two
// gateway processes, each fed by its own agents process, vs two publisher processes on a bare
// stream. The figure is reported with the machine's core count; it has no goal on 2 cores,
// where five processes and nats-server share two CPUs.
import { cpus } from 'node:os';
import { connectBus, ensureStreams } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { jetstreamManager, StorageType } from '@nats-io/jetstream';
import { nanos } from '@nats-io/transport-node';
import type { BenchContext } from '../harness.ts';
import { nowMs, perSecond } from '../stats.ts';
import { startChild } from './children.ts';
import { SCALE_TOKEN } from './memory.ts';

const PAIRS = 2;

async function viaGateways(ctx: BenchContext, natsUrl: string, perAgent: number, agents: number) {
  const feeders = [];
  for (let g = 0; g < PAIRS; g++) {
    const gateway = await startChild<{ url: string }>(ctx, 'gateway', {
      natsUrl,
      token: SCALE_TOKEN,
      gatewayId: `bench-scale-gw-${g}`,
    });
    const feeder = await startChild(ctx, 'agents', {
      url: gateway.ready.url,
      token: SCALE_TOKEN,
      count: agents,
      prefix: `gw${g}-`,
      sessions: 10,
      hello: true,
    });
    await feeder.call('open');
    feeders.push(feeder);
  }
  const start = nowMs();
  await Promise.all(feeders.map((f) => f.call('burst', { perAgent, batch: 250, window: 2_000 })));
  return perSecond(PAIRS * agents * perAgent, nowMs() - start);
}

async function viaPublishers(ctx: BenchContext, natsUrl: string, total: number) {
  const log = createLogger({ service: 'bench-scale', level: 'silent' });
  const nc = await connectBus({ url: natsUrl, name: 'bench-scale-ingest', log });
  ctx.defer(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: 'BENCH_SCALE',
    subjects: ['bench.scale.>'],
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  const publishers = [];
  for (let p = 0; p < PAIRS; p++)
    publishers.push(
      await startChild(ctx, 'publisher', { natsUrl, subject: `bench.scale.p${p}`, runId: `p${p}` }),
    );
  const start = nowMs();
  const results = await Promise.all(
    publishers.map((p) =>
      p.call<{ sent: number }>('publish', { count: total / PAIRS, budgetMs: 60_000 }, 90_000),
    ),
  );
  const elapsed = nowMs() - start;
  const sent = results.reduce((n, r) => n + r.sent, 0);
  const { state } = await jsm.streams.info('BENCH_SCALE');
  if (state.messages !== sent) throw new Error(`BENCH_SCALE holds ${state.messages}, published ${sent}`);
  return perSecond(sent, elapsed);
}

export async function twoGatewayIngest(ctx: BenchContext): Promise<void> {
  const agents = ctx.size(10, 2);
  const perAgent = ctx.size(4_000, 250);
  const total = PAIRS * agents * perAgent;
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-scale', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-scale-streams', log });
  await ensureStreams(nc);
  await nc.close();
  const raw = await viaPublishers(ctx, nats.url, total);
  const gateways = await viaGateways(ctx, nats.url, perAgent, agents);
  const cores = cpus().length;
  ctx.log(
    `ingest ${total} events, ${cores} cores: 2 gateways ${gateways.toFixed(0)}/s, 2 raw publishers ${raw.toFixed(0)}/s`,
  );
  ctx.record({
    name: `scale.ingest.2gateways.${total}events.${cores}cores`,
    value: gateways,
    unit: 'msg/s',
    baseline: { name: `jetstream.publish.async.2publishers.${cores}cores`, value: raw, unit: 'msg/s' },
  });
}

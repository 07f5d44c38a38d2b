// 1,000 simulated agents × 10 sessions on one gateway for 5 minutes at a steady event rate, a
// tracker projecting behind it: the backlog must not grow. Sampled every 30 s: what the agents
// sent and the gateway has not acked yet (stream side), the tracker consumer's pending + unacked
// (consumer side), and the gateway's memory. Figures: the lag when the load stops, in seconds of
// load; the gateway's memory per loaded connection (measured once drained, every agent still
// connected) against a raw ws server's per idle socket.
import { connectBus, ensureStreams } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { StreamName } from '@hal/protocol';
import { jetstreamManager } from '@nats-io/jetstream';
import type { BenchContext } from '../harness.ts';
import { nowMs, perSecond } from '../stats.ts';
import { startBenchTracker } from './bench-tracker.ts';
import { type MemorySample, startChild } from './children.ts';
import {
  kib,
  type PerConnection,
  perConnection,
  recordMemory,
  SCALE_TOKEN,
  waitForNodes,
  warmUp,
} from './memory.ts';

const CONSUMER = 'bench-scale-steady';

interface AgentStats {
  sent: number;
  acked: number;
  unacked: number;
  closed: number;
}

export async function steadyLoad(ctx: BenchContext, rawIdle: PerConnection): Promise<void> {
  const agentsCount = ctx.size(1_000, 100);
  const sessions = 10;
  const rate = ctx.size(1_000, 200);
  const durationMs = ctx.size(300_000, 15_000);
  const sampleMs = ctx.size(30_000, 5_000);
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-scale', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-scale-steady', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const jsm = await jetstreamManager(nc);

  const tracker = await startBenchTracker(ctx, nc, CONSUMER);

  const gateway = await startChild<{ url: string }>(ctx, 'gateway', {
    natsUrl: nats.url,
    token: SCALE_TOKEN,
    gatewayId: 'bench-scale-steady',
  });
  // As for idle connections: the one-time costs (code compiled and optimised for hello and for
  // events) go into the "before" sample, so the figure is what each further agent costs.
  const before = await warmUp(ctx, gateway, true, 'warm-', ctx.size(500, 50));
  const agents = await startChild(ctx, 'agents', {
    url: gateway.ready.url,
    token: SCALE_TOKEN,
    count: agentsCount,
    prefix: 'load-',
    sessions,
    hello: true,
  });
  await agents.call('open');
  await waitForNodes(gateway, agentsCount);

  const consumerLag = async (): Promise<number> => {
    const info = await jsm.consumers.info(StreamName.EVENTS, CONSUMER);
    return info.num_pending + info.num_ack_pending;
  };
  const samples: Array<{ atS: number; unacked: number; consumer: number; rssMiB: number }> = [];
  const sample = async (start: number): Promise<AgentStats> => {
    const stats = await agents.call<AgentStats>('stats');
    const consumer = await consumerLag();
    const { rss } = await gateway.call<{ rss: number }>('rss');
    const row = {
      atS: Math.round((nowMs() - start) / 1000),
      unacked: stats.unacked,
      consumer,
      rssMiB: Math.round(rss / 2 ** 20),
    };
    samples.push(row);
    ctx.log(
      `steady t=${row.atS}s sent ${stats.sent} unacked ${row.unacked} tracker lag ${consumer} gateway rss ${row.rssMiB} MiB`,
    );
    return stats;
  };

  const start = nowMs();
  await agents.call('steady', { rate });
  while (nowMs() - start < durationMs) {
    await new Promise((r) => setTimeout(r, Math.min(sampleMs, durationMs - (nowMs() - start))));
    await sample(start);
  }
  const stopped = await agents.call<AgentStats>('stopSteady');
  const elapsed = nowMs() - start;
  const finalConsumer = await consumerLag();
  const achieved = perSecond(stopped.sent, elapsed);
  if (stopped.closed > 0) throw new Error(`${stopped.closed} agent sockets closed under steady load`);

  // The backlog drains once the load stops, or the figures above mean nothing.
  const drainBy = Date.now() + 60_000;
  for (;;) {
    const stats = await agents.call<AgentStats>('stats');
    const lag = await consumerLag();
    if (stats.unacked === 0 && lag === 0) break;
    if (Date.now() > drainBy)
      throw new Error(
        `backlog not drained 60 s after the load: unacked ${stats.unacked}, tracker lag ${lag}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
  const { state } = await jsm.streams.info(StreamName.EVENTS);
  if (tracker.appliedSeq() !== state.last_seq)
    throw new Error(`tracker applied ${tracker.appliedSeq()} of ${state.last_seq}`);
  // Measured with every agent still connected and every session known to the gateway.
  const loaded = await gateway.call<MemorySample>('mem');

  const label = `${agentsCount}agents_x${sessions}sessions`;
  const half = samples.slice(Math.floor(samples.length / 2));
  ctx.log(
    `steady ${label}: ${stopped.sent} events in ${(elapsed / 1000).toFixed(0)} s (${achieved.toFixed(0)}/s), ` +
      `lag in the second half ${half.map((s) => s.unacked + s.consumer).join(' → ')}; ${state.messages} stored, all projected`,
  );
  ctx.record({
    name: `scale.steady.${label}.final_lag`,
    value: stopped.unacked + finalConsumer,
    unit: 'events',
    // The lag in seconds of load: under one second behind means no backlog built up.
    baseline: { name: 'steady.load.one_second', value: achieved, unit: 'events' },
    goal: { op: '<=', value: 1 },
  });
  const per = perConnection(before, loaded, agentsCount);
  ctx.log(`steady gateway memory per connection: rss ${kib(per.rss)} heap ${kib(per.heapUsed)}`);
  recordMemory(ctx, `scale.steady.${label}.memory_per_connection`, per, rawIdle, 'ws.memory.per_idle_socket');
}

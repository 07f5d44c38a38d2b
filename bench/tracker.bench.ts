// The tracker's projection rate: events read from HAL_EVENTS and applied to SQLite per second,
// against the gateway's ingest rate measured earlier in the same run (gateway.bench.ts, which
// run.ts orders first): a ratio ≥ 1 means the tracker never falls behind what the gateway takes
// in. Only when that figure is missing (the gateway module failed) is raw JetStream async
// publishing the baseline — the spine's ceiling, a stricter bar — and the figure's name says so.
import { randomUUID } from 'node:crypto';
import { connectBus, ensureStreams, jetstreamClient, publishEvent } from '@hal/bus';
import { createLogger, createRegistry } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { benchTracker } from './fixtures.ts';
import { ingestFigureName } from './gateway.bench.ts';
import type { BenchContext, FigureInput } from './harness.ts';
import { nowMs, perSecond, runWindowed } from './stats.ts';

const SESSIONS = 200;

/** A realistic mix: mostly message parts (the assistant streaming), some state changes and completions. */
export function eventAt(i: number, start: number): EventRecord {
  const session = `ses_${i % SESSIONS}`;
  const base = {
    version: 1 as const,
    id: randomUUID(),
    seq: i,
    node: `node-${i % 4}`,
    project: 'bench',
    session,
    time: new Date(start + i).toISOString(),
  };
  const kind = i % 10;
  if (kind < 6) {
    return {
      ...base,
      type: 'message.part',
      data: {
        message_id: `msg_${i >> 4}`,
        part_id: `prt_${i}`,
        role: 'assistant',
        part_type: 'text',
        text: 'x'.repeat(120),
      },
    };
  }
  if (kind === 6) {
    return {
      ...base,
      type: 'message.completed',
      data: {
        message_id: `msg_${i >> 4}`,
        model: 'gpt-5',
        provider: 'openai',
        tokens: { input: 1000, output: 200, reasoning: 0, cache_read: 50, cache_write: 0 },
        cost_usd: 0.01,
      },
    };
  }
  return {
    ...base,
    type: kind === 7 ? 'session.busy' : kind === 8 ? 'session.idle' : 'opencode.file.edited',
    data: {},
  };
}

export default async function tracker(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-tracker', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-tracker', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const js = jetstreamClient(nc);
  const count = ctx.size(60_000, 2_000);
  const start = Date.now();
  const published = await runWindowed((i) => publishEvent(js, eventAt(i, start)), {
    count,
    budgetMs: 30_000,
    window: 1_000,
  });
  ctx.log(`tracker: ${published.sent} events in HAL_EVENTS`);

  // Catch-up from the first event: the consumer runs flat out, which is its projection rate.
  const instance = await benchTracker(ctx, { nc, log, registry: createRegistry({ defaultMetrics: false }) });
  const t0 = nowMs();
  await instance.start();
  const deadline = t0 + 120_000;
  while (instance.appliedSeq() < published.sent) {
    if (nowMs() > deadline)
      throw new Error(`tracker applied ${instance.appliedSeq()} of ${published.sent} in 120 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
  const elapsed = nowMs() - t0;
  ctx.record({
    ...projectionBaseline(ctx),
    value: perSecond(published.sent, elapsed),
    unit: 'msg/s',
    goal: { op: '>=', value: 1 },
  });
}

/** The gateway's ingest figure of this run as the baseline, else raw JetStream (named as such). */
function projectionBaseline(ctx: BenchContext): Pick<FigureInput, 'name' | 'baseline'> {
  const ingest = ctx.figure(ingestFigureName(ctx));
  if (ingest !== undefined) {
    return {
      name: 'tracker.projection.rate_vs_gateway_ingest',
      baseline: { name: ingest.name, value: ingest.value, unit: ingest.unit },
    };
  }
  ctx.log('no gateway ingest figure in this run: falling back to raw JetStream publish as the baseline');
  return {
    name: 'tracker.projection.rate_vs_jetstream_publish.no_gateway_figure',
    baseline: 'jetstream.publish.async',
  };
}

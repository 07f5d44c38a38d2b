// The gateway's ingest path without the WebSocket: parse a frame's event, validate it with the
// protocol schema (parseEventRecord), publish it through @hal/bus into HAL_EVENTS (dedup id),
// window 1,000.
import { randomUUID } from 'node:crypto';
import { connectBus, ensureStreams, jetstreamClient, publishEvent } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { type EventRecord, parseEventRecord } from '@hal/protocol';
import type { BenchContext } from './harness.ts';
import { jsonPayload, perSecond, runWindowed } from './stats.ts';

export default async function spine(ctx: BenchContext): Promise<void> {
  const count = ctx.size(40_000, 1_000);
  const nats = await ctx.nats();
  // The gateway's own connection settings (connectBus), not the client's defaults.
  const log = createLogger({ service: 'bench', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-spine', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const js = jetstreamClient(nc);
  // Frames are prepared before timing: the agent, not the gateway, pays for ids and JSON.
  const template = JSON.parse(new TextDecoder().decode(jsonPayload())) as Record<string, unknown>;
  const frames = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ ...template, id: randomUUID(), seq: i }),
  );
  // The same path without the check: the frame parsed and the record serialised again (a
  // publisher needs the node, project, type and id for the subject and the dedup header, whether
  // it checks or not), then the publish. Other ids: a duplicate is cheaper to store.
  const uncheckedFrames = Array.from({ length: count }, (_, i) =>
    JSON.stringify({ ...template, id: randomUUID(), seq: i }),
  );
  // As the gateway does: the schema's check (parseEventRecord, its fast path for valid records),
  // one serialisation, then the publish.
  const checked = (i: number) => {
    const parsed = parseEventRecord(JSON.parse(frames[i]!));
    if (!parsed.success) throw new Error(parsed.error.message);
    return publishEvent(js, parsed.data, JSON.stringify(parsed.data));
  };
  const bareRun = (i: number) => {
    const event = JSON.parse(uncheckedFrames[i]!) as EventRecord;
    return publishEvent(js, event, JSON.stringify(event));
  };
  // Interleaved rounds, the order swapped each round, each side's rate over all of its rounds: a
  // slow stretch of the machine (a GC, the store's file growing) falls on both sides, not one.
  const ROUNDS = 4;
  const perRound = Math.floor(count / ROUNDS);
  const totals = { bare: { sent: 0, elapsedMs: 0 }, checked: { sent: 0, elapsedMs: 0 } };
  for (let round = 0; round < ROUNDS; round++) {
    const offset = round * perRound;
    const order = round % 2 === 0 ? (['bare', 'checked'] as const) : (['checked', 'bare'] as const);
    for (const side of order) {
      const run = side === 'bare' ? bareRun : checked;
      const r = await runWindowed((i) => run(offset + i), { count: perRound, budgetMs: 750, window: 1_000 });
      totals[side].sent += r.sent;
      totals[side].elapsedMs += r.elapsedMs;
    }
  }
  const bare = totals.bare;
  const { sent, elapsedMs } = totals.checked;
  const validated = perSecond(sent, elapsedMs);
  ctx.record({
    name: 'bus.publishEvent.validated',
    value: validated,
    unit: 'msg/s',
    baseline: 'jetstream.publish.async',
    // Validation and subject building must not cost more than a fifth of the raw publish.
    goal: { op: '>=', value: 0.8 },
  });
  // @hal/bus publishes through one ack inbox per connection, cheaper than nats.js's
  // `js.publish` (the raw figure): this one holds the check alone to the same fifth. Until
  // 2026-12-01 its baseline published records parsed and serialised before timing, so it
  // charged the frame's decoding and encoding, which every publisher pays, to the check.
  ctx.record({
    name: 'bus.publishEvent.validated_vs_unchecked',
    value: validated,
    unit: 'msg/s',
    baseline: {
      name: 'bus.publishEvent.unchecked',
      value: perSecond(bare.sent, bare.elapsedMs),
      unit: 'msg/s',
    },
    goal: { op: '>=', value: 0.8 },
  });
}

// Tracker catch-up after an hour of events (3.6 million: 1,000/s for an hour) against raw
// JetStream consuming the same stream in the same run. The stream is filled with core publishes
// fenced every FENCE by one acknowledged JetStream publish (so the server never holds more than
// two fences' worth unstored); the fill and the catch-up each have a time budget, and what was
// actually filled and projected is what the figure's name and the log say.
import { connectBus, ensureStreams, jetstreamClient } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { StreamName, subjects } from '@hal/protocol';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import type { BenchContext } from '../harness.ts';
import { nowMs, perSecond } from '../stats.ts';
import { eventAt } from '../tracker.bench.ts';
import { startBenchTracker } from './bench-tracker.ts';

const HOUR_AT_1000_PER_S = 3_600_000;
const FENCE = 5_000;

export async function trackerCatchUp(ctx: BenchContext): Promise<void> {
  const target = ctx.size(HOUR_AT_1000_PER_S, 20_000);
  const fillBudgetMs = ctx.size(100_000, 20_000);
  const catchUpBudgetMs = ctx.size(150_000, 60_000);
  const nats = await ctx.nats();
  const log = createLogger({ service: 'bench-scale', level: 'silent' });
  const nc = await connectBus({ url: nats.url, name: 'bench-scale-catchup', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc, { eventsMaxBytes: 8 * 2 ** 30 });
  const js = jetstreamClient(nc);
  const jsm = await jetstreamManager(nc);

  // --- fill ------------------------------------------------------------------------------
  const t0 = Date.now();
  const fillStart = nowMs();
  let filled = 0;
  // Two fences in flight at most: the server stores one chunk while the next is sent.
  let fence: Promise<unknown> = Promise.resolve();
  while (filled < target) {
    const event = eventAt(filled, t0);
    const subject = subjects.event(event.node, event.project, event.type);
    const json = JSON.stringify(event);
    filled++;
    if (filled % FENCE !== 0 && filled !== target) {
      nc.publish(subject, json);
      continue;
    }
    await fence;
    fence = js.publish(subject, json, { msgID: event.id });
    if (nowMs() - fillStart > fillBudgetMs) break;
  }
  await fence;
  const { state } = await jsm.streams.info(StreamName.EVENTS);
  if (state.messages !== filled) throw new Error(`HAL_EVENTS holds ${state.messages}, published ${filled}`);
  ctx.log(
    `catch-up: ${filled} of ${target} events in HAL_EVENTS in ${((nowMs() - fillStart) / 1000).toFixed(0)} s` +
      (filled < target ? ` (fill budget ${fillBudgetMs / 1000} s reached)` : ''),
  );

  // --- raw JetStream consume: receive every message, ack every 500th (ack-all) -------------
  await jsm.consumers.add(StreamName.EVENTS, {
    durable_name: 'bench-raw-consume',
    ack_policy: AckPolicy.All,
    deliver_policy: DeliverPolicy.All,
    max_ack_pending: 20_000,
  });
  const rawStart = nowMs();
  const messages = await (await js.consumers.get(StreamName.EVENTS, 'bench-raw-consume')).consume({
    max_messages: 1_000,
  });
  let received = 0;
  for await (const msg of messages) {
    received++;
    if (received % 500 === 0 || received === filled) msg.ack();
    if (received === filled) break;
  }
  const rawRate = perSecond(received, nowMs() - rawStart);
  await messages.close();
  await jsm.consumers.delete(StreamName.EVENTS, 'bench-raw-consume');

  // --- the tracker from an empty database --------------------------------------------------
  const trackerStart = nowMs();
  const tracker = await startBenchTracker(ctx, nc, 'bench-scale-catchup');
  while (tracker.appliedSeq() < state.last_seq && nowMs() - trackerStart < catchUpBudgetMs)
    await new Promise((r) => setTimeout(r, 50));
  const applied = tracker.appliedSeq();
  const trackerRate = perSecond(applied, nowMs() - trackerStart);
  const complete = applied >= state.last_seq;
  ctx.log(
    `catch-up: tracker applied ${applied} of ${state.last_seq} at ${trackerRate.toFixed(0)}/s` +
      `${complete ? '' : ` (budget ${catchUpBudgetMs / 1000} s reached)`}; raw consume ${rawRate.toFixed(0)}/s`,
  );
  ctx.record({
    name: `scale.tracker.catch_up.${filled}events${complete ? '' : `.applied_${applied}`}`,
    value: trackerRate,
    unit: 'msg/s',
    baseline: { name: 'jetstream.consume.raw', value: rawRate, unit: 'msg/s' },
  });
}

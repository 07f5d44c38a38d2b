// The policy service's throughput: events already in HAL_EVENTS handled (acked by `hal-policy`)
// per second by a lone policy instance with the default policies and routes, against raw
// JetStream consuming the same stream with an explicit ack per message in the same run. Two
// mixes: the soak's (`npm run soak`: every event a session.busy or session.idle of 200 sessions,
// so every event changes a session's facts and every other one is a collapsed notification) and
// the tracker bench's realistic one (mostly message parts). The soak needs 1,000 events/s inside
// the supervisor; this measures the policy alone.
import { randomUUID } from 'node:crypto';
import { connectBus, ensureStreams, jetstreamClient, type NatsConnection } from '@hal/bus';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { createPolicy, POLICY_CONSUMER } from '@hal/policy';
import { type EventRecord, StreamName, subjects } from '@hal/protocol';
import { AckPolicy, DeliverPolicy, jetstreamManager } from '@nats-io/jetstream';
import type { BenchContext } from './harness.ts';
import { nowMs, perSecond } from './stats.ts';
import { eventAt } from './tracker.bench.ts';

const SESSIONS = 200;
const FENCE = 2_000;
const log = createLogger({ service: 'bench-policy', level: 'silent' });

/** As the soak's simulated agents send: busy and idle in turn, round-robin over 200 sessions. */
function soakEventAt(i: number, start: number): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: i,
    node: `node-${i % 100}`,
    project: 'bench',
    session: `ses_${i % SESSIONS}`,
    type: Math.floor(i / SESSIONS) % 2 === 0 ? 'session.busy' : 'session.idle',
    time: new Date(start + i).toISOString(),
    data: { n: i },
  };
}

/** Fills HAL_EVENTS with `count` events: core publishes fenced by an acknowledged one every FENCE. */
async function fill(nc: NatsConnection, count: number, at: (i: number, start: number) => EventRecord) {
  const js = jetstreamClient(nc);
  const start = Date.now();
  for (let i = 0; i < count; i++) {
    const event = at(i, start);
    const subject = subjects.event(event.node, event.project, event.type);
    if ((i + 1) % FENCE !== 0 && i + 1 !== count) nc.publish(subject, JSON.stringify(event));
    else await js.publish(subject, JSON.stringify(event), { msgID: event.id });
  }
}

async function rawConsumeRate(nc: NatsConnection, fromSeq: number, count: number): Promise<number> {
  const jsm = await jetstreamManager(nc);
  const js = jetstreamClient(nc);
  const name = 'bench-raw-explicit';
  await jsm.consumers.add(StreamName.EVENTS, {
    durable_name: name,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.StartSequence,
    opt_start_seq: fromSeq,
    max_ack_pending: 4_096,
  });
  const t0 = nowMs();
  const messages = await (await js.consumers.get(StreamName.EVENTS, name)).consume({ max_messages: 512 });
  let received = 0;
  for await (const msg of messages) {
    msg.json();
    msg.ack();
    if (++received === count) break;
  }
  const rate = perSecond(received, nowMs() - t0);
  await messages.close();
  await jsm.consumers.delete(StreamName.EVENTS, name);
  return rate;
}

async function policyRate(ctx: BenchContext, nc: NatsConnection, url: string, count: number) {
  const config = parseConfig('supervisor', { server: { auth_token: 'b'.repeat(32) } });
  const jsm = await jetstreamManager(nc);
  const own = await connectBus({ url, name: 'bench-policy-service', log });
  ctx.defer(() => own.close());
  const policy = createPolicy({
    config,
    nc: own,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    // No tick during the run: what is measured is the event path.
    tickMs: 3_600_000,
  });
  ctx.defer(() => policy.stop());
  // The consumer is made at the stream's end on the first start ("deliver new"): made here, before
  // the events, so the second start finds them all waiting.
  await policy.start();
  await policy.stop();
  return {
    async run(mix: string, at: (i: number, start: number) => EventRecord) {
      const last0 = (await jsm.streams.info(StreamName.EVENTS)).state.last_seq;
      await fill(nc, count, at);
      const last = (await jsm.streams.info(StreamName.EVENTS)).state.last_seq;
      if (last - last0 !== count) throw new Error(`${mix}: HAL_EVENTS took ${last - last0} of ${count}`);
      const t0 = nowMs();
      const cpu0 = process.cpuUsage();
      await policy.start();
      const deadline = t0 + 180_000;
      for (;;) {
        const c = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
        if (c.ack_floor.stream_seq >= last && c.num_ack_pending === 0) break;
        if (nowMs() > deadline)
          throw new Error(`${mix}: policy acked up to ${c.ack_floor.stream_seq} of ${last} in 180 s`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const rate = perSecond(count, nowMs() - t0);
      const cpu = process.cpuUsage(cpu0);
      await policy.stop();
      // CPU of this process (the policy, and the polling above) per event: steadier than the rate
      // on a shared machine.
      return { rate, fromSeq: last0 + 1, cpuUsPerEvent: (cpu.user + cpu.system) / count };
    },
  };
}

export default async function policy(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const nc = await connectBus({ url: nats.url, name: 'bench-policy', log });
  ctx.defer(() => nc.close());
  await ensureStreams(nc);
  const count = ctx.size(40_000, 4_000);
  const service = await policyRate(ctx, nc, nats.url, count);
  for (const [mix, at] of [
    ['soak_mix', soakEventAt],
    ['realistic_mix', eventAt],
  ] as const) {
    const { rate, fromSeq, cpuUsPerEvent } = await service.run(mix, at);
    // The same events, consumed raw, as the baseline of this mix.
    const raw = await rawConsumeRate(nc, fromSeq, count);
    ctx.log(
      `policy ${mix}: ${rate.toFixed(0)} events/s, ${cpuUsPerEvent.toFixed(0)} µs CPU an event ` +
        `(raw explicit-ack consume ${raw.toFixed(0)}/s)`,
    );
    ctx.record({
      name: `policy.events_per_s.${mix}`,
      value: rate,
      unit: 'msg/s',
      baseline: { name: `jetstream.consume.explicit_ack.${mix}`, value: raw, unit: 'msg/s' },
    });
  }
}

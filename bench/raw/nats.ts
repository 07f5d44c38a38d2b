import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { connect, nanos } from '@nats-io/transport-node';
import type { BenchContext } from '../harness.ts';
import { jsonPayload, nowMs, percentile, perSecond, runWindowed, sampleLatencies } from '../stats.ts';

const BUDGET_MS = 3_000;

/** Core publish → subscribe on two connections, all messages delivered. */
export async function natsCorePubSub(ctx: BenchContext, url: string): Promise<void> {
  const count = ctx.size(300_000, 5_000);
  const payload = jsonPayload();
  const sub = await connect({ servers: url });
  const pub = await connect({ servers: url });
  ctx.defer(() => Promise.all([sub.close(), pub.close()]));
  let received = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  sub.subscribe('bench.core', {
    callback: () => {
      received++;
      if (received === count) resolveDone();
    },
  });
  await sub.flush();
  const start = nowMs();
  for (let i = 0; i < count; i++) {
    pub.publish('bench.core', payload);
    // Yield now and then so the socket drains instead of buffering everything in memory.
    if (i % 10_000 === 9_999) await pub.flush();
  }
  await pub.flush();
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, BUDGET_MS).unref());
  await Promise.race([done, timeout]);
  const elapsed = nowMs() - start;
  if (received < count) ctx.log(`core pub/sub: only ${received}/${count} delivered in ${BUDGET_MS} ms`);
  ctx.recordRaw({ name: 'nats.core.pubsub', value: perSecond(received, elapsed), unit: 'msg/s' });
}

/** Core request/reply round trips, one at a time. */
export async function natsRequestReply(ctx: BenchContext, url: string): Promise<void> {
  const payload = jsonPayload();
  const server = await connect({ servers: url });
  const client = await connect({ servers: url });
  ctx.defer(() => Promise.all([server.close(), client.close()]));
  server.subscribe('bench.rr', {
    callback: (_err, msg) => {
      msg.respond(msg.data);
    },
  });
  await server.flush();
  const samples = await sampleLatencies(
    async () => {
      await client.request('bench.rr', payload, { timeout: 1_000 });
    },
    { count: ctx.size(10_000, 300), budgetMs: BUDGET_MS },
  );
  ctx.recordRaw({ name: 'nats.reqreply.p50', value: percentile(samples, 50), unit: 'ms' });
  ctx.recordRaw({ name: 'nats.reqreply.p99', value: percentile(samples, 99), unit: 'ms' });
}

/**
 * JetStream async publish to a file-storage stream with a window of 1,000 unacked
 * publishes and a Nats-Msg-Id on each, as the gateway publishes events.
 */
export async function jetstreamAsyncPublish(ctx: BenchContext, url: string): Promise<void> {
  const count = ctx.size(40_000, 1_000);
  const payload = jsonPayload();
  const nc = await connect({ servers: url });
  ctx.defer(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({
    name: 'BENCH_JS',
    subjects: ['bench.js.>'],
    storage: StorageType.File,
    duplicate_window: nanos(120_000),
  });
  const js = jetstream(nc);
  const runId = `${process.pid}-${Date.now()}`;
  const { sent, elapsedMs } = await runWindowed(
    (i) => js.publish('bench.js.evt', payload, { msgID: `${runId}-${i}` }),
    { count, budgetMs: BUDGET_MS, window: 1_000 },
  );
  const info = await jsm.streams.info('BENCH_JS');
  if (info.state.messages !== sent) throw new Error(`stream holds ${info.state.messages}, published ${sent}`);
  ctx.recordRaw({ name: 'jetstream.publish.async', value: perSecond(sent, elapsedMs), unit: 'msg/s' });
}

/**
 * One message at a time, spaced like a busy session's events: published to a file-storage stream
 * and timed until a consumer on another connection has it. The building block under "an opencode
 * event reaches the API's SSE stream", which crosses JetStream once on its way.
 */
export async function jetstreamPublishToConsume(
  url: string,
  opts: { count: number; spacingMs: number },
): Promise<number[]> {
  const pub = await connect({ servers: url });
  const sub = await connect({ servers: url });
  try {
    const jsm = await jetstreamManager(pub);
    await jsm.streams.add({ name: 'BENCH_JS_LAT', subjects: ['bench.lat.>'], storage: StorageType.File });
    const messages = await (await jetstream(sub).consumers.get('BENCH_JS_LAT')).consume();
    const sentAt: number[] = [];
    const latencies: number[] = [];
    const reading = (async () => {
      for await (const m of messages) {
        const { i } = m.json<{ i: number }>();
        latencies.push(nowMs() - (sentAt[i] ?? Number.NaN));
        if (latencies.length === opts.count) break;
      }
    })();
    const js = jetstream(pub);
    // About the size of an event record.
    const pad = 'x'.repeat(400);
    for (let i = 0; i < opts.count; i++) {
      sentAt[i] = nowMs();
      await js.publish('bench.lat.evt', JSON.stringify({ i, pad }));
      await new Promise((r) => setTimeout(r, opts.spacingMs));
    }
    await reading;
    await jsm.streams.delete('BENCH_JS_LAT');
    return latencies;
  } finally {
    await Promise.all([pub.close(), sub.close()]);
  }
}

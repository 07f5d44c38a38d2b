// The raw building blocks: the denominators of every other figure, measured in the same run.
import type { BenchContext } from './harness.ts';
import { jetstreamAsyncPublish, natsCorePubSub, natsRequestReply } from './raw/nats.ts';
import { sqliteBatchedInsert } from './raw/sqlite.ts';
import { wsRoundTrip } from './raw/ws.ts';
import { nowMs } from './stats.ts';

export default async function raw(ctx: BenchContext): Promise<void> {
  const started = nowMs();
  const nats = await ctx.nats();
  ctx.recordRaw({ name: 'nats.server.start', value: nowMs() - started, unit: 'ms' });
  await natsCorePubSub(ctx, nats.url);
  await natsRequestReply(ctx, nats.url);
  await jetstreamAsyncPublish(ctx, nats.url);
  await wsRoundTrip(ctx);
  await sqliteBatchedInsert(ctx);
}

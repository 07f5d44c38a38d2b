// #13's load figures, each part in processes of its own (bench/scale/): memory per idle agent
// connection against a raw ws server's per idle socket; ingest through two gateways against two
// raw JetStream publishers; 1,000 agents × 10 sessions on one gateway at a steady rate with a
// tracker behind it (no backlog growth, memory per loaded connection); the tracker catching up
// on an hour of events against raw JetStream consuming. `npm run bench -- scale`.
import type { BenchContext } from './harness.ts';
import { trackerCatchUp } from './scale/catch-up.ts';
import { twoGatewayIngest } from './scale/ingest.ts';
import { idleMemory } from './scale/memory.ts';
import { steadyLoad } from './scale/steady.ts';

export default async function scale(ctx: BenchContext): Promise<void> {
  const nats = await ctx.nats();
  const rawIdle = await idleMemory(ctx, nats.url);
  await nats.stop();
  await twoGatewayIngest(ctx);
  await steadyLoad(ctx, rawIdle);
  await trackerCatchUp(ctx);
}

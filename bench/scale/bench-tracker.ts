// The real tracker as the scale parts run it: its own durable consumer, a temp data dir, nothing
// logged; stopped when the module ends.
import { join } from 'node:path';
import type { NatsConnection } from '@hal/bus';
import { createLogger, createRegistry } from '@hal/observability';
import { createTracker, type Tracker } from '@hal/tracker';
import type { BenchContext } from '../harness.ts';

export async function startBenchTracker(
  ctx: BenchContext,
  nc: NatsConnection,
  consumerName: string,
): Promise<Tracker> {
  const tracker = createTracker({
    config: {
      data_dir: join(await ctx.tmpDir(), 'data'),
      heartbeat_interval_sec: 600,
      heartbeat_timeout_count: 3,
      security: { audit: { retention_days: 90 } },
    },
    nc,
    log: createLogger({ service: 'bench-tracker', level: 'silent' }),
    registry: createRegistry({ defaultMetrics: false }),
    consumerName,
  });
  ctx.defer(() => tracker.stop());
  await tracker.start();
  return tracker;
}

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  connectBus,
  ensureStreams,
  type JetStreamClient,
  jetstreamClient,
  type NatsConnection,
  publishEvent,
  request,
} from '@hal/bus';
import { type Clock, createLogger, createRegistry, type Registry } from '@hal/observability';
import { type EventRecord, subjects, type TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import { type NatsServer, startNats } from '@hal/testkit';
import type { z } from 'zod';
import { createTracker, type Tracker, type TrackerDeps } from '../src/index.ts';

export const silentLog = createLogger({ service: 'tracker-test', level: 'silent' });

export interface Stack {
  nats: NatsServer;
  nc: NatsConnection;
  js: JetStreamClient;
  dir: string;
  publish(...events: EventRecord[]): Promise<number>;
  query<Q extends TrackerQuery>(
    name: Q,
    body: z.input<(typeof trackerQuerySchemas)[Q]['request']>,
  ): Promise<z.infer<(typeof trackerQuerySchemas)[Q]['response']>>;
  tracker(
    opts?: Partial<TrackerDeps> & { dataDir?: string },
  ): Promise<{ tracker: Tracker; registry: Registry }>;
}

/** A real nats-server with the streams, a temp data dir, and trackers that are stopped after the test. */
export async function startStack(t: { after(fn: () => Promise<void>): void }): Promise<Stack> {
  const nats = await startNats();
  const nc = await connectBus({ url: nats.url, name: 'tracker-test', log: silentLog });
  await ensureStreams(nc);
  const js = jetstreamClient(nc);
  const dir = await mkdtemp(join(tmpdir(), 'hal-tracker-'));
  const running: Tracker[] = [];
  t.after(async () => {
    for (const tr of running) await tr.stop();
    await nc.close();
    await nats.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    nats,
    nc,
    js,
    dir,
    async publish(...events) {
      let last = 0;
      for (const e of events) last = (await publishEvent(js, e)).seq;
      return last;
    },
    query(name, body) {
      // The schema picked by `name` types the answer; TS cannot follow the index through request().
      return request(
        nc,
        subjects.trackerQuery(name),
        body,
        trackerQuerySchemas[name].response,
      ) as Promise<never>;
    },
    async tracker(opts = {}) {
      const registry = createRegistry({ defaultMetrics: false });
      const tracker = createTracker({
        config: {
          data_dir: opts.dataDir ?? join(dir, 'data'),
          heartbeat_interval_sec: 30,
          heartbeat_timeout_count: 3,
          security: { audit: { retention_days: 90 } },
        },
        nc,
        log: silentLog,
        registry,
        ...opts,
      });
      await tracker.start();
      running.push(tracker);
      const stop = tracker.stop.bind(tracker);
      tracker.stop = async () => {
        running.splice(running.indexOf(tracker), 1);
        await stop();
      };
      return { tracker, registry };
    },
  };
}

/** A clock the test moves by hand. */
export function manualClock(
  start = Date.parse('2026-11-20T10:00:00Z'),
): Clock & { advance(ms: number): void } {
  let now = start;
  return {
    now: () => now,
    advance(ms) {
      now += ms;
    },
  };
}

export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}) {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const value = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  return value?.value ?? 0;
}

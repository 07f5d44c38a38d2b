import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connectBus, type NatsConnection } from '@hal/bus';
import { type CostConfig, costConfigSchema } from '@hal/config';
import { createCostPoller } from '@hal/cost-poller';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { startNats } from '@hal/testkit';

/** A fixed "now": 2026-11-20 15:00 UTC. Tests move it by assigning `clock.t`. */
export const NOW = Date.parse('2026-11-20T15:00:00Z');

export interface LogSink {
  lines: Array<Record<string, unknown>>;
  write(chunk: string): void;
}

export function logSink(): LogSink {
  const lines: Array<Record<string, unknown>> = [];
  return {
    lines,
    write(chunk) {
      for (const l of chunk.split('\n'))
        if (l.trim() !== '') lines.push(JSON.parse(l) as Record<string, unknown>);
    },
  };
}

export async function startBus(t: TestContext): Promise<{ nc: NatsConnection; url: string }> {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connectBus({
    url: nats.url,
    name: 'cost-test',
    log: createLogger({ service: 'test', level: 'silent' }),
  });
  t.after(() => nc.close());
  return { nc, url: nats.url };
}

export interface PollerHarness {
  poller: ReturnType<typeof createCostPoller>;
  readiness: Readiness;
  sleeps: number[];
  sink: LogSink;
  clock: { t: number; now(): number };
  dataDir: string;
  restart(): Promise<void>;
}

/** A cost poller on a real NATS and a real SQLite file in a temp dir, with a recording sleep. */
export async function startPoller(
  t: TestContext,
  nc: NatsConnection,
  cost: Record<string, unknown>,
  opts: { dataDir?: string } = {},
): Promise<PollerHarness> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'hal-cost-'));
  if (opts.dataDir === undefined) t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config: CostConfig = costConfigSchema.parse(cost);
  const sleeps: number[] = [];
  const sink = logSink();
  const clock = {
    t: NOW,
    now() {
      return this.t;
    },
  };
  const readiness = new Readiness();
  const make = () =>
    createCostPoller({
      config: { data_dir: dataDir, cost: config },
      nc,
      log: createLogger({ service: 'cost-poller', destination: sink }),
      registry: createRegistry(),
      readiness,
      clock,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
  const h: PollerHarness = {
    poller: make(),
    readiness,
    sleeps,
    sink,
    clock,
    dataDir,
    async restart() {
      await h.poller.stop();
      h.poller = make();
      await h.poller.start();
    },
  };
  await h.poller.start();
  t.after(() => h.poller.stop());
  return h;
}

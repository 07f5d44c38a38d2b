import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { connectBus, jetstreamClient, type NatsConnection, publishEvent, request } from '@hal/bus';
import { type CostConfig, costConfigSchema } from '@hal/config';
import { createCostPoller } from '@hal/cost-poller';
import { createLogger, createRegistry, Readiness, type Registry } from '@hal/observability';
import {
  CostQuery,
  costQuerySchemas,
  costReportSchema,
  type EventRecord,
  eventRecordSchema,
  StreamName,
  subjects,
} from '@hal/protocol';
import { startNats, waitFor } from '@hal/testkit';

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
  /** The metrics registry of the current poller instance (a restart makes a new one). */
  registry: Registry;
  dataDir: string;
  restart(): Promise<void>;
}

/** A cost poller on a real NATS and a real SQLite file in a temp dir, with a recording sleep. */
export async function startPoller(
  t: TestContext,
  nc: NatsConnection,
  cost: Record<string, unknown>,
  opts: { dataDir?: string; instances?: { lease_ttl_sec: number; consumer_inactive_sec: number } } = {},
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
  let registry = createRegistry({ defaultMetrics: false });
  const make = () => {
    registry = createRegistry({ defaultMetrics: false });
    return createCostPoller({
      config: {
        data_dir: dataDir,
        cost: config,
        ...(opts.instances === undefined ? {} : { instances: opts.instances }),
      },
      nc,
      log: createLogger({ service: 'cost-poller', destination: sink }),
      registry,
      readiness,
      clock,
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
  };
  const h: PollerHarness = {
    poller: make(),
    get registry() {
      return registry;
    },
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

/** A `message.completed` an agent would publish: one assistant message with opencode's own cost. */
export function spendEvent(o: {
  node: string;
  project: string;
  session: string;
  message: string;
  costUsd: number;
  at: number;
  provider?: string;
  model?: string;
}): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: 1,
    node: o.node,
    project: o.project,
    session: o.session,
    type: 'message.completed',
    time: new Date(o.at).toISOString(),
    data: {
      message_id: o.message,
      model: o.model ?? 'claude-sonnet-4-5',
      provider: o.provider ?? 'anthropic',
      tokens: { input: 10, output: 10, reasoning: 0, cache_read: 0, cache_write: 0 },
      cost_usd: o.costUsd,
    },
  };
}

/**
 * Publishes spend events and waits until the cost service counted all of them (the report's
 * message count over every day), then runs one budget evaluation at the current clock.
 */
export async function spend(
  nc: NatsConnection,
  h: PollerHarness,
  events: EventRecord[],
  expectedMessages: number,
): Promise<void> {
  const js = jetstreamClient(nc);
  for (const e of events) await publishEvent(js, e);
  await waitFor(
    async () => {
      const r = await request(
        nc,
        subjects.costQuery(CostQuery.REPORT),
        { period: 'custom', from: '2026-10-01', to: '2027-01-31' },
        costReportSchema,
      );
      return r.totals.messages === expectedMessages;
    },
    { message: `${expectedMessages} messages counted` },
  );
  await h.poller.evaluateBudgets();
}

/** Every cost.* event stored in HAL_EVENTS, in stream order — what the policy engine would read. */
export async function storedCostEvents(nc: NatsConnection): Promise<EventRecord[]> {
  const jsm = await jetstreamClient(nc).jetstreamManager();
  const info = await jsm.streams.info(StreamName.EVENTS);
  const out: EventRecord[] = [];
  for (let seq = info.state.first_seq; seq <= info.state.last_seq && info.state.messages > 0; seq++) {
    const m = await jsm.streams.getMessage(StreamName.EVENTS, { seq });
    if (m === null || !/\.cost\.[a-z_]+$/.test(m.subject)) continue;
    out.push(eventRecordSchema.parse(m.json()));
  }
  return out;
}

/** The budget views as `GET /api/v1/cost/budgets` would show them. */
export async function budgetViews(nc: NatsConnection) {
  const r = await request(nc, subjects.costQuery(CostQuery.BUDGETS), {}, costQuerySchemas.budgets.response);
  return r.budgets;
}

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus, ensureStreams, jetstreamClient, publishEvent, request } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { CostQuery, costReportSchema, StreamName, subjects } from '@hal/protocol';
import { type FakeAnthropicData, startFakeAnthropic, waitFor } from '@hal/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import { NOW, spendEvent, startBus, startPoller, storedCostEvents } from './harness.ts';

const KEY = 'sk-ant-admin01-good';
const TTL_SEC = 1.5;
const instances = { lease_ttl_sec: TTL_SEC, consumer_inactive_sec: 3_600 };
const USAGE_PATH = '/v1/organizations/usage_report/messages';

const data: FakeAnthropicData = {
  usage: [
    {
      day: '2026-11-19',
      model: 'claude-sonnet-4-5',
      workspace_id: 'wrk_a',
      api_key_id: 'key_1',
      uncached_input_tokens: 1000,
      output_tokens: 200,
    },
  ],
  cost: [
    {
      day: '2026-11-19',
      amount: '1234.5',
      workspace_id: 'wrk_a',
      description: 'Claude Sonnet 4.5 Usage - Input Tokens',
      model: 'claude-sonnet-4-5',
    },
  ],
};

test('cost-poller instances - billing is polled by the leader only, both answer the same, a killed leader is replaced within the lease', async (t) => {
  const { nc, url } = await startBus(t);
  // A 1 s duplicate window: a budget event published twice would show as two messages.
  await ensureStreams(nc, { duplicateWindowSec: 1 });
  const anthropic = await startFakeAnthropic({ adminKey: KEY, pageSize: 10, now: () => NOW, data });
  t.after(() => anthropic.stop());
  const cost = {
    forecast: false,
    providers: { anthropic: { admin_api_key: KEY, base_url: anthropic.url } },
    projects: [{ provider: 'anthropic', kind: 'workspace', id: 'wrk_a', project: 'alpha' }],
    budgets: [{ name: 'alpha-daily', period: 'day', limit_usd: 1, project: 'alpha' }],
  };
  const log = createLogger({ service: 'test', level: 'silent' });
  const ncA = await connectBus({ url, name: 'cost-a', log });
  const ncB = await connectBus({ url, name: 'cost-b', log });
  t.after(() => ncB.close());
  const a = await startPoller(t, ncA, cost, { instances });
  const b = await startPoller(t, ncB, cost, { instances });
  assert.equal(a.poller.isLeader(), true);
  assert.equal(b.poller.isLeader(), false);
  /** Polls of the billing window so far: each poll reads the usage report's first page once. */
  const polls = () =>
    anthropic.requests.filter((r) => r.path === USAGE_PATH && r.query.get('page') === null).length;
  const report = () =>
    request(nc, subjects.costQuery(CostQuery.REPORT), { period: 'week' }, costReportSchema);

  await waitFor(async () => (await report()).totals.billed_usd === 12.345, {
    message: 'the leader polled at start',
  });
  for (let i = 0; i < 3; i++) await Promise.all([a.poller.pollNow(), b.poller.pollNow()]);
  assert.equal(polls(), 4, 'the start and three rounds, each polled once');

  // Both instances have the billing and the spend: every answer of the query group is the same.
  const js = jetstreamClient(nc);
  for (const [i, usd] of [0.85, 0.25].entries()) {
    await publishEvent(
      js,
      spendEvent({
        node: 'n',
        project: 'alpha',
        session: 's1',
        message: `m${i}`,
        costUsd: usd,
        at: NOW - 60_000,
      }),
    );
    await waitFor(async () => (await report()).totals.messages === i + 1);
    await Promise.all([a.poller.evaluateBudgets(), b.poller.evaluateBudgets()]);
  }
  await waitFor(async () => (await report()).totals.messages === 2);
  await waitFor(async () => {
    const seen = await Promise.all(Array.from({ length: 20 }, () => report()));
    return seen.every((r) => JSON.stringify(r) === JSON.stringify(seen[0]));
  });
  await Promise.all([a.poller.evaluateBudgets(), b.poller.evaluateBudgets()]);
  const jsm = await jetstreamManager(nc);
  const consumers: string[] = [];
  for await (const c of jsm.consumers.list(StreamName.EVENTS)) consumers.push(c.name);
  assert.equal(consumers.filter((c) => c.startsWith('hal-cost-')).length, 2, 'one consumer per instance');

  // The leader dies without releasing anything: b takes over within the lease and polls.
  const killed = performance.now();
  await ncA.close();
  await waitFor(() => polls() === 5, { timeoutMs: 4 * TTL_SEC * 1000, message: 'b polls once it leads' });
  const took = performance.now() - killed;
  t.diagnostic(`b polled ${Math.round(took)} ms after the leader was killed (lease ${TTL_SEC} s)`);
  assert.ok(took < TTL_SEC * 1000 + 1_500, `took ${took} ms`);
  assert.equal(b.poller.isLeader(), true);
  await b.poller.evaluateBudgets();
  // Past the stream's 1 s duplicate window, so a republished alert would be stored again.
  await new Promise((r) => setTimeout(r, 1_100));
  await b.poller.evaluateBudgets();
  // Budget lines crossed once, published once — by a — and never again by b after the failover.
  const budgetEvents = (await storedCostEvents(nc)).map((e) => e.type);
  assert.deepEqual(budgetEvents, ['cost.budget_warning', 'cost.budget_exceeded']);
});

test('cost-poller instances - an instance without admin keys never takes the polling from one with them', async (t) => {
  const { nc, url } = await startBus(t);
  const anthropic = await startFakeAnthropic({ adminKey: KEY, pageSize: 10, now: () => NOW, data });
  t.after(() => anthropic.stop());
  const log = createLogger({ service: 'test', level: 'silent' });
  const ncB = await connectBus({ url, name: 'cost-keyed', log });
  t.after(() => ncB.close());
  // Started first, as a region without the keys would be: it publishes budgets, it polls nothing.
  const keyless = await startPoller(t, nc, { forecast: false }, { instances });
  const keyed = await startPoller(
    t,
    ncB,
    {
      forecast: false,
      providers: { anthropic: { admin_api_key: KEY, base_url: anthropic.url } },
      projects: [{ provider: 'anthropic', kind: 'workspace', id: 'wrk_a', project: 'alpha' }],
    },
    { instances },
  );
  assert.equal(keyless.poller.isLeader(), false);
  assert.equal(keyed.poller.isLeader(), true);
  const report = () =>
    request(nc, subjects.costQuery(CostQuery.REPORT), { period: 'week' }, costReportSchema);
  // The keyless instance answers with the billing the keyed one read.
  await keyed.poller.pollNow();
  await waitFor(async () => {
    const all = await Promise.all(Array.from({ length: 10 }, () => report()));
    return all.every((r) => r.totals.billed_usd === 12.345);
  });
});

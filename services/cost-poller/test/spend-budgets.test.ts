import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { jetstreamClient, publishEvent, request } from '@hal/bus';
import {
  CostQuery,
  costQuerySchemas,
  costReportSchema,
  ErrorCode,
  type EventRecord,
  HalError,
  StreamName,
  subjects,
} from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { NOW, startBus, startPoller } from './harness.ts';

function completed(
  node: string,
  session: string,
  messageId: string,
  model: string,
  tokens: { input: number; output: number },
  costUsd = 0,
  at = NOW - 60_000,
): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: 1,
    node,
    project: 'alpha',
    session,
    type: 'message.completed',
    time: new Date(at).toISOString(),
    data: {
      message_id: messageId,
      model,
      provider: 'anthropic',
      tokens: { ...tokens, reasoning: 0, cache_read: 0, cache_write: 0 },
      cost_usd: costUsd,
    },
  };
}

const rates = { 'claude-sonnet-4-5': { input: 3, output: 15 } };

test('session spend - two sessions on two nodes roll up exactly, estimated from model_rates; restart changes nothing', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, { model_rates: rates, forecast: false });
  const js = jetstreamClient(nc);
  // s1 on node-a: 1000 in + 200 out = $0.003 + $0.003; repeated once (must not double count).
  const first = completed('node-a', 's1', 'm1', 'claude-sonnet-4-5', { input: 1000, output: 200 });
  await publishEvent(js, first);
  await publishEvent(js, { ...first, id: randomUUID() });
  // s2 on node-b: opencode reported $0.25 itself (not estimated).
  await publishEvent(
    js,
    completed('node-b', 's2', 'm2', 'claude-sonnet-4-5', { input: 10, output: 10 }, 0.25),
  );
  const report = (group_by: string) =>
    request(nc, subjects.costQuery(CostQuery.REPORT), { period: 'today', group_by }, costReportSchema);
  const r = await waitFor(async () => {
    const x = await report('session,node,project,model');
    return x.totals.messages === 2 ? x : undefined;
  });
  assert.equal(r.totals.observed_usd, 0.256);
  assert.equal(r.totals.estimated_usd, 0.006);
  assert.deepEqual(
    r.rows.map((row) => [row.key, row.observed_usd, row.estimated_usd, row.billed_usd, row.tokens.input]),
    [
      [{ session: 's2', node: 'node-b', project: 'alpha', model: 'claude-sonnet-4-5' }, 0.25, 0, null, 10],
      [
        { session: 's1', node: 'node-a', project: 'alpha', model: 'claude-sonnet-4-5' },
        0.006,
        0.006,
        null,
        1000,
      ],
    ],
  );
  await h.restart();
  await publishEvent(js, completed('node-a', 's1', 'm1', 'claude-sonnet-4-5', { input: 1000, output: 200 }));
  const after = await report('project');
  assert.deepEqual(after.totals, r.totals);
  assert.deepEqual(
    after.rows.map((row) => [row.key, row.observed_usd]),
    [[{ project: 'alpha' }, 0.256]],
  );
});

test('budgets - $1.00 project budget with $0.85 then $1.10 gives one warning and one exceeded with figures', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, {
    forecast: false,
    budgets: [{ name: 'alpha-daily', period: 'day', limit_usd: 1, project: 'alpha' }],
  });
  const js = jetstreamClient(nc);
  const seen: EventRecord[] = [];
  const sub = nc.subscribe(subjects.eventFilter({ type: 'cost.>' }), {
    callback: (_e, m) => {
      seen.push(m.json<EventRecord>());
    },
  });
  t.after(() => sub.unsubscribe());
  await publishEvent(js, completed('node-a', 's1', 'm1', 'x', { input: 1, output: 1 }, 0.85));
  await waitFor(() => seen.length === 1);
  await publishEvent(js, completed('node-a', 's1', 'm2', 'x', { input: 1, output: 1 }, 0.25));
  await waitFor(() => seen.length === 2);
  await h.poller.evaluateBudgets();
  await h.restart();
  await h.poller.evaluateBudgets();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    seen.map((e) => [e.type, e.node, e.project, e.session, e.data]),
    [
      [
        'cost.budget_warning',
        'control-plane',
        'alpha',
        null,
        {
          budget: 'alpha-daily',
          scope: 'project',
          period: 'day',
          period_key: '2026-11-20',
          limit_usd: 1,
          spent_usd: 0.85,
          share: 0.85,
          warn_share: 0.8,
        },
      ],
      [
        'cost.budget_exceeded',
        'control-plane',
        'alpha',
        null,
        {
          budget: 'alpha-daily',
          scope: 'project',
          period: 'day',
          period_key: '2026-11-20',
          limit_usd: 1,
          spent_usd: 1.1,
          share: 1.1,
          warn_share: 0.8,
        },
      ],
    ],
  );
  const info = await (await js.jetstreamManager()).streams.info(StreamName.EVENTS);
  assert.equal(info.state.messages, 4);
  const budgets = await request(
    nc,
    subjects.costQuery(CostQuery.BUDGETS),
    {},
    costQuerySchemas.budgets.response,
  );
  assert.equal(budgets.budgets[0]?.state, 'exceeded');
  assert.equal(budgets.budgets[0]?.spent_usd, 1.1);
});

test('cost queries - invalid report requests fail with VALIDATION_FAILED and say where', async (t) => {
  const { nc } = await startBus(t);
  await startPoller(t, nc, {});
  const ask = (body: unknown) => request(nc, subjects.costQuery(CostQuery.REPORT), body, costReportSchema);
  const cases: Array<[unknown, string]> = [
    [{ period: 'year' }, 'period'],
    [{ period: 'custom', from: '2026-11-01' }, 'to'],
    [{ period: 'custom', from: '2026-11-05', to: '2026-11-01' }, 'to'],
    [{ period: 'today', group_by: 'provider,galaxy' }, 'group_by[1]'],
    [{ period: 'today', from: '2026-11-01' }, 'from'],
  ];
  for (const [body, path] of cases) {
    await assert.rejects(ask(body), (err: unknown) => {
      assert.ok(err instanceof HalError);
      assert.equal(err.code, ErrorCode.VALIDATION_FAILED);
      const issues = (err.details as { issues: Array<{ path: string }> }).issues;
      assert.equal(issues[0]?.path, path, JSON.stringify(body));
      return true;
    });
  }
});

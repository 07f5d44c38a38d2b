import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { jetstreamClient, publishEvent } from '@hal/bus';
import { costConfigSchema } from '@hal/config';
import { createCostPoller } from '@hal/cost-poller';
import { createRegistry } from '@hal/observability';
import type { CostReport, EventRecord } from '@hal/protocol';
import { tempDir, waitFor } from '@hal/testkit';
import { type ApiFixture, bearer, log, startApiFixture, TOKENS } from './api-stand-ins.ts';

// The real cost-poller answers hal.q.cost.* (a test-only dependency: the route is only
// meaningful against the service's real answers), fed through JetStream like in production.
const NOW = Date.parse('2026-11-20T15:00:00Z');
const RATES = {
  'claude-sonnet-4-5': { input: 3, output: 15 },
  'gpt-4.1': { input: 2, output: 8 },
};

function completed(o: {
  node: string;
  project: string;
  session: string;
  model: string;
  provider: string;
  input: number;
  output: number;
  cost?: number;
  at?: string;
}): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: 1,
    node: o.node,
    project: o.project,
    session: o.session,
    type: 'message.completed',
    time: o.at ?? '2026-11-20T14:00:00.000Z',
    data: {
      message_id: `msg-${randomUUID()}`,
      model: o.model,
      provider: o.provider,
      tokens: { input: o.input, output: o.output, reasoning: 0, cache_read: 0, cache_write: 0 },
      cost_usd: o.cost ?? 0,
    },
  };
}

const claude = { model: 'claude-sonnet-4-5', provider: 'anthropic' };
const gpt = { model: 'gpt-4.1', provider: 'openai' };
const EVENTS = [
  // today: s1 on node-a (alpha), two messages estimated from the rates: $0.006 + $0.0075.
  completed({ node: 'node-a', project: 'alpha', session: 's1', ...claude, input: 1000, output: 200 }),
  completed({ node: 'node-a', project: 'alpha', session: 's1', ...claude, input: 2000, output: 100 }),
  // today: s2 on node-b (beta), opencode priced it itself: $0.25, not estimated.
  completed({ node: 'node-b', project: 'beta', session: 's2', ...gpt, input: 10, output: 10, cost: 0.25 }),
  // two days ago (in the week): $0.01 + $0.008 estimated.
  completed({
    node: 'node-b',
    project: 'beta',
    session: 's3',
    ...gpt,
    input: 5000,
    output: 1000,
    at: '2026-11-18T09:00:00.000Z',
  }),
  // ten days ago (in the month, not the week): $1.50 from opencode.
  completed({
    node: 'node-a',
    project: 'alpha',
    session: 's4',
    ...claude,
    input: 1,
    output: 1,
    cost: 1.5,
    at: '2026-11-10T09:00:00.000Z',
  }),
];

async function startCost(fx: ApiFixture, dataDir: string) {
  const poller = createCostPoller({
    config: {
      data_dir: dataDir,
      cost: costConfigSchema.parse({
        model_rates: RATES,
        forecast: false,
        budgets: [{ name: 'alpha-daily', project: 'alpha', period: 'day', limit_usd: 1 }],
      }),
    },
    nc: fx.nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    clock: { now: () => NOW },
  });
  await poller.start();
  return poller;
}

test('api cost - report and budgets from the real cost-poller: exact totals by project, model and session; per-day for week and month', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const dataDir = tempDir('hal-api-cost-');
  const poller = await startCost(fx, dataDir);
  t.after(() => poller.stop());
  const js = jetstreamClient(fx.nc);
  for (const e of EVENTS) await publishEvent(js, e);

  const get = async (query: string): Promise<CostReport> => {
    const res = await fx.api.app.inject({
      method: 'GET',
      url: `/api/v1/cost${query}`,
      headers: bearer(TOKENS.viewer),
    });
    assert.equal(res.statusCode, 200, res.body);
    return res.json().data as CostReport;
  };
  const month = await waitFor(async () => {
    const r = await get('?period=month');
    return r.totals.messages === EVENTS.length ? r : undefined;
  });
  assert.deepEqual(
    [month.from, month.to, month.totals.observed_usd, month.totals.estimated_usd, month.totals.billed_usd],
    ['2026-11-01', '2026-11-20', 1.7815, 0.0315, 0],
  );
  assert.equal(month.days.length, 20);
  assert.deepEqual(
    month.days.filter((d) => d.observed_usd > 0),
    [
      { day: '2026-11-10', observed_usd: 1.5, billed_usd: 0 },
      { day: '2026-11-18', observed_usd: 0.018, billed_usd: 0 },
      { day: '2026-11-20', observed_usd: 0.2635, billed_usd: 0 },
    ],
  );

  const byProject = await get('?group_by=project');
  assert.equal(byProject.period, 'today');
  assert.deepEqual(byProject.totals, {
    observed_usd: 0.2635,
    estimated_usd: 0.0135,
    billed_usd: 0,
    tokens: { input: 3010, output: 310, reasoning: 0, cache_read: 0, cache_write: 0 },
    messages: 3,
  });
  assert.deepEqual(
    byProject.rows.map((r) => [r.key, r.observed_usd, r.estimated_usd, r.billed_usd, r.messages]),
    [
      [{ project: 'beta' }, 0.25, 0, 0, 1],
      [{ project: 'alpha' }, 0.0135, 0.0135, 0, 2],
    ],
  );

  const byModelSession = await get('?period=week&group_by=model,session');
  assert.deepEqual([byModelSession.from, byModelSession.to], ['2026-11-14', '2026-11-20']);
  assert.deepEqual(
    byModelSession.rows.map((r) => [r.key, r.observed_usd, r.estimated_usd, r.billed_usd, r.tokens.input]),
    [
      [{ model: 'gpt-4.1', session: 's2' }, 0.25, 0, null, 10],
      [{ model: 'gpt-4.1', session: 's3' }, 0.018, 0.018, null, 5000],
      [{ model: 'claude-sonnet-4-5', session: 's1' }, 0.0135, 0.0135, null, 3000],
    ],
  );
  assert.deepEqual(
    byModelSession.days.map((d) => d.observed_usd),
    [0, 0, 0, 0, 0.018, 0, 0.2635],
  );

  const custom = await get('?period=custom&from=2026-11-10&to=2026-11-10&group_by=node');
  assert.deepEqual(
    custom.rows.map((r) => [r.key, r.observed_usd, r.estimated_usd]),
    [[{ node: 'node-a' }, 1.5, 0]],
  );
  assert.deepEqual(custom.reconciliation, [
    { provider: 'anthropic', project: 'alpha', billed_usd: 0, observed_usd: 1.5, difference_usd: -1.5 },
  ]);

  const budgets = await fx.api.app.inject({
    method: 'GET',
    url: '/api/v1/cost/budgets',
    headers: bearer(TOKENS.viewer),
  });
  assert.equal(budgets.statusCode, 200);
  assert.equal(budgets.json().meta.count, 1);
  const [alpha] = budgets.json().data;
  assert.deepEqual(
    [alpha.name, alpha.scope, alpha.period, alpha.period_key, alpha.limit_usd, alpha.spent_usd, alpha.state],
    ['alpha-daily', 'project', 'day', '2026-11-20', 1, 0.0135, 'ok'],
  );

  // The OpenAPI document comes from the same route table.
  const doc = await fx.api.app.inject({
    method: 'GET',
    url: '/api/openapi.json',
    headers: bearer(TOKENS.viewer),
  });
  const op = doc.json().paths['/api/v1/cost'].get;
  assert.equal(op['x-hal-role'], 'viewer');
  assert.deepEqual(
    op.parameters.map((p: { name: string; required: boolean }) => [p.name, p.required]),
    [
      ['period', false],
      ['from', false],
      ['to', false],
      ['group_by', false],
    ],
  );
  assert.ok(doc.json().paths['/api/v1/cost/budgets'].get);
});

test('api cost - bad periods and groupings are 400 VALIDATION_FAILED naming the field; no token is 401', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const dataDir = tempDir('hal-api-cost-');
  const poller = await startCost(fx, dataDir);
  t.after(() => poller.stop());

  const cases: Array<[string, string, string]> = [
    ['?period=custom&from=2026-11-12&to=2026-11-10', 'to', 'to must not be before from'],
    ['?period=custom&from=2026-11-12', 'to', 'period=custom needs from and to (YYYY-MM-DD)'],
    ['?period=week&from=2026-11-12', 'from', 'from/to are only allowed with period=custom'],
    ['?period=custom&from=2025-01-01&to=2026-11-10', 'to', 'a report covers at most 366 days'],
    ['?period=custom&from=12/11/2026&to=2026-11-12', 'from', 'Invalid ISO date'],
    [
      '?group_by=model,colour',
      'group_by[1]',
      'Invalid option: expected one of "provider"|"model"|"project"|"node"|"session"',
    ],
    ['?group_by=model,model', 'group_by', 'group_by lists a field twice'],
    ['?period=year', 'period', 'Invalid option: expected one of "today"|"week"|"month"|"custom"'],
    ['?grop_by=model', '(root)', 'Unrecognized key: "grop_by"'],
  ];
  for (const [query, path, message] of cases) {
    const res = await fx.api.app.inject({
      method: 'GET',
      url: `/api/v1/cost${query}`,
      headers: bearer(TOKENS.viewer),
    });
    assert.equal(res.statusCode, 400, query);
    const { error } = res.json();
    assert.equal(error.code, 'VALIDATION_FAILED', query);
    assert.deepEqual(error.details.issues, [{ path, message }], query);
    assert.equal(error.message, `invalid query string: ${path}: ${message}`, query);
  }

  for (const url of ['/api/v1/cost', '/api/v1/cost/budgets']) {
    const res = await fx.api.app.inject({ method: 'GET', url });
    assert.equal(res.statusCode, 401, url);
    assert.deepEqual(res.json(), {
      error: { code: 'UNAUTHORIZED', message: 'missing bearer token (Authorization: Bearer <token>)' },
    });
  }
});

test('api cost - the cost service down is 503 UNAVAILABLE on the report and the budgets; back once it restarts', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const down = {
    error: { code: 'UNAVAILABLE', message: 'the cost service is not running (no answer on hal.q.cost)' },
  };
  for (const url of ['/api/v1/cost?period=week', '/api/v1/cost/budgets']) {
    const res = await fx.api.app.inject({ method: 'GET', url, headers: bearer(TOKENS.viewer) });
    assert.equal(res.statusCode, 503, url);
    assert.deepEqual(res.json(), down);
  }

  const dataDir = tempDir('hal-api-cost-');
  const poller = await startCost(fx, dataDir);
  const up = await fx.api.app.inject({ method: 'GET', url: '/api/v1/cost', headers: bearer(TOKENS.viewer) });
  assert.equal(up.statusCode, 200);
  assert.equal(up.json().data.totals.observed_usd, 0);
  await poller.stop();
  const again = await fx.api.app.inject({
    method: 'GET',
    url: '/api/v1/cost',
    headers: bearer(TOKENS.viewer),
  });
  assert.equal(again.statusCode, 503);
  assert.deepEqual(again.json(), down);
});

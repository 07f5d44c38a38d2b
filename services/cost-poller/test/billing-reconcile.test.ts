import assert from 'node:assert/strict';
import { type TestContext, test } from 'node:test';
import { request } from '@hal/bus';
import { CostQuery, costReportSchema, subjects } from '@hal/protocol';
import {
  type FakeAnthropicData,
  type FakeOpenAIData,
  startFakeAnthropic,
  startFakeOpenAI,
} from '@hal/testkit';
import { NOW, type PollerHarness, spend, spendEvent, startBus, startPoller } from './harness.ts';

const ANTHROPIC_KEY = 'sk-ant-admin01-good';
const OPENAI_KEY = 'sk-admin-good';
type Nc = Awaited<ReturnType<typeof startBus>>['nc'];

const report = (nc: Nc, body: Record<string, unknown>) =>
  request(nc, subjects.costQuery(CostQuery.REPORT), body, costReportSchema);

async function fakes(t: TestContext, anthropicData: FakeAnthropicData, openaiData: FakeOpenAIData) {
  const anthropic = await startFakeAnthropic({
    adminKey: ANTHROPIC_KEY,
    pageSize: 2,
    now: () => NOW,
    data: anthropicData,
  });
  const openai = await startFakeOpenAI({
    adminKey: OPENAI_KEY,
    pageSize: 2,
    now: () => NOW,
    data: openaiData,
  });
  t.after(() => anthropic.stop());
  t.after(() => openai.stop());
  return { anthropic, openai };
}

function costConfig(anthropicUrl: string, openaiUrl: string) {
  return {
    forecast: false,
    providers: {
      anthropic: { admin_api_key: ANTHROPIC_KEY, base_url: anthropicUrl },
      openai: { admin_api_key: OPENAI_KEY, base_url: openaiUrl },
    },
    projects: [
      { provider: 'anthropic', kind: 'workspace', id: 'wrk_x', project: 'xproj' },
      { provider: 'openai', kind: 'project', id: 'proj_y', project: 'xproj' },
      { provider: 'openai', kind: 'project', id: 'proj_b', project: 'beta' },
    ],
  };
}

/** `hal_o_swarm_cost_usd_total` lines of the registry's exposition text, sorted. */
async function costGauge(h: PollerHarness): Promise<string[]> {
  const text = await h.registry.metrics();
  return text
    .split('\n')
    .filter((l) => l.startsWith('hal_o_swarm_cost_usd_total{'))
    .sort();
}

test('reconciliation - billed and observed in one provider+project show both and the exact difference', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(
    t,
    {
      usage: [],
      cost: [
        {
          day: '2026-11-20',
          amount: '120',
          workspace_id: 'wrk_x',
          description: 'in',
          model: 'claude-sonnet-4-5',
        },
        {
          day: '2026-11-20',
          amount: '80',
          workspace_id: 'wrk_x',
          description: 'out',
          model: 'claude-sonnet-4-5',
        },
      ],
    },
    {
      usage: [],
      cost: [{ day: '2026-11-20', value: 0.75, project_id: 'proj_y', line_item: 'gpt-4o, input' }],
    },
  );
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();
  const at = NOW - 60_000;
  await spend(
    nc,
    h,
    [
      spendEvent({ node: 'n1', project: 'xproj', session: 's1', message: 'm1', costUsd: 1.2, at }),
      spendEvent({ node: 'n2', project: 'xproj', session: 's2', message: 'm2', costUsd: 0.3, at }),
      spendEvent({
        node: 'n1',
        project: 'xproj',
        session: 's1',
        message: 'm3',
        costUsd: 1,
        at,
        provider: 'openai',
        model: 'gpt-4o',
      }),
    ],
    3,
  );
  const r = await report(nc, { period: 'today', group_by: 'provider,project' });
  // Anthropic: $2.00 billed (120 + 80 cents) vs $1.50 observed. OpenAI: $0.75 billed vs $1.00 observed.
  assert.deepEqual(r.reconciliation, [
    { provider: 'anthropic', project: 'xproj', billed_usd: 2, observed_usd: 1.5, difference_usd: 0.5 },
    { provider: 'openai', project: 'xproj', billed_usd: 0.75, observed_usd: 1, difference_usd: -0.25 },
  ]);
  assert.deepEqual(
    r.rows.map((row) => [row.key, row.billed_usd, row.observed_usd]),
    [
      [{ provider: 'anthropic', project: 'xproj' }, 2, 1.5],
      [{ provider: 'openai', project: 'xproj' }, 0.75, 1],
    ],
  );
  assert.deepEqual([r.totals.billed_usd, r.totals.observed_usd], [2.75, 2.5]);
});

const openaiData: FakeOpenAIData = {
  usage: [
    {
      day: '2026-11-19',
      model: 'gpt-4o',
      project_id: 'proj_b',
      api_key_id: 'k',
      input_tokens: 900,
      output_tokens: 90,
      input_cached_tokens: 100,
      num_model_requests: 3,
    },
  ],
  cost: [
    { day: '2026-11-19', value: 1.5, project_id: 'proj_b', line_item: 'gpt-4o, input' },
    { day: '2026-11-20', value: 0.25, project_id: 'proj_b', line_item: 'gpt-4o, output' },
  ],
};

test('billing - OpenAI answering HTML, truncated JSON, negative or non-numeric amount.value degrades it and never changes a total', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(t, { usage: [], cost: [] }, openaiData);
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();
  assert.equal((await report(nc, { period: 'week' })).totals.billed_usd, 1.75);
  // A revision a broken cycle must not write.
  openai.revise('2026-11-20', { cost: [{ day: '2026-11-20', value: 999, project_id: 'proj_b' }] });
  const usage = '/v1/organization/usage/completions';
  const cost = '/v1/organization/costs';
  // Pages hold two days: 18 (empty) and 19, so the first result sits in data[1].
  const cases: Array<[Parameters<typeof openai.failNext>[0], string, string]> = [
    ['html', usage, `${usage} answered HTML instead of JSON`],
    ['html', cost, `${cost} answered HTML instead of JSON`],
    ['truncated', cost, `${cost} answered truncated or invalid JSON`],
    [
      'negative',
      usage,
      `${usage} response rejected at data[1].results[0].output_tokens: Too small: expected number to be >=0`,
    ],
    [
      'negative',
      cost,
      `${cost} response rejected at data[1].results[0].amount.value: must be a non-negative finite number of dollars`,
    ],
    [
      'non_numeric',
      cost,
      `${cost} response rejected at data[1].results[0].amount.value: Invalid input: expected number, received string`,
    ],
  ];
  for (const [kind, path, reason] of cases) {
    h.sink.lines.length = 0;
    openai.failNext(kind, 1, undefined, path);
    await h.poller.pollNow();
    const r = await report(nc, { period: 'week' });
    assert.equal(r.totals.billed_usd, 1.75, `${kind} on ${path}: total unchanged`);
    assert.deepEqual(
      r.providers.map((p) => [p.provider, p.state, p.reason]),
      [
        ['anthropic', 'ok', null],
        ['openai', 'degraded', `openai: ${reason}`],
      ],
      `${kind} on ${path}`,
    );
    const line = h.sink.lines.find((l) => l.msg === 'provider poll failed; keeping its previous figures');
    assert.deepEqual([line?.provider, line?.code], ['openai', 'PROVIDER_BAD_RESPONSE'], `${kind} on ${path}`);
    assert.equal(h.sink.lines.filter((l) => l.level === 60).length, 0, 'no fatal log');
  }
  const ready = await h.readiness.evaluate();
  assert.equal(ready.ready, true);
  // Fixed upstream: the next clean poll clears the state and takes the revision.
  await h.poller.pollNow();
  const fixed = await report(nc, { period: 'week' });
  assert.equal(fixed.totals.billed_usd, 1000.5);
  assert.deepEqual(fixed.providers.find((p) => p.provider === 'openai')?.state, 'ok');
});

test("metrics - hal_o_swarm_cost_usd_total{provider,model,project} holds each poll's billed totals", async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(
    t,
    {
      usage: [],
      cost: [
        {
          day: '2026-11-19',
          amount: '1234.5',
          workspace_id: 'wrk_x',
          description: 'in',
          model: 'claude-sonnet-4-5',
        },
        {
          day: '2026-11-20',
          amount: '50.25',
          workspace_id: 'wrk_x',
          description: 'in',
          model: 'claude-sonnet-4-5',
        },
        {
          day: '2026-11-20',
          amount: '7',
          workspace_id: 'wrk_x',
          description: 'out',
          model: 'claude-haiku-4-5',
        },
        {
          day: '2026-11-20',
          amount: '0.0001',
          workspace_id: 'wrk_zzz',
          description: 'x',
          model: 'claude-sonnet-4-5',
        },
      ],
    },
    openaiData,
  );
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();
  const expected = [
    'hal_o_swarm_cost_usd_total{provider="anthropic",model="claude-haiku-4-5",project="xproj"} 0.07',
    'hal_o_swarm_cost_usd_total{provider="anthropic",model="claude-sonnet-4-5",project="unattributed"} 0.000001',
    'hal_o_swarm_cost_usd_total{provider="anthropic",model="claude-sonnet-4-5",project="xproj"} 12.8475',
    'hal_o_swarm_cost_usd_total{provider="openai",model="gpt-4o",project="beta"} 1.75',
  ];
  assert.deepEqual(await costGauge(h), expected);

  // A revision replaces the day (never adds); a failed poll keeps the last figures.
  openai.revise('2026-11-20', {
    cost: [{ day: '2026-11-20', value: 0.5, project_id: 'proj_b', line_item: 'gpt-4o, output' }],
  });
  await h.poller.pollNow();
  const revised = [
    ...expected.slice(0, 3),
    'hal_o_swarm_cost_usd_total{provider="openai",model="gpt-4o",project="beta"} 2',
  ];
  assert.deepEqual(await costGauge(h), revised);
  openai.failNext('html');
  await h.poller.pollNow();
  assert.deepEqual(await costGauge(h), revised);

  // A restarted service rebuilds the gauge from its database, even while the provider fails.
  openai.failNext('500', 100);
  await h.restart();
  assert.deepEqual(await costGauge(h), revised);
});

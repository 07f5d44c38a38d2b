import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from '@hal/bus';
import { CostQuery, costReportSchema, subjects } from '@hal/protocol';
import {
  type FakeAnthropicData,
  type FakeOpenAIData,
  startFakeAnthropic,
  startFakeOpenAI,
} from '@hal/testkit';
import { NOW, startBus, startPoller } from './harness.ts';

const ANTHROPIC_KEY = 'sk-ant-admin01-good';
const OPENAI_KEY = 'sk-admin-good';

const anthropicData: FakeAnthropicData = {
  usage: [
    {
      day: '2026-11-19',
      model: 'claude-sonnet-4-5',
      workspace_id: 'wrk_a',
      api_key_id: 'key_1',
      uncached_input_tokens: 1000,
      output_tokens: 200,
      cache_read_input_tokens: 50,
      cache_creation_5m: 10,
      cache_creation_1h: 5,
    },
    {
      day: '2026-11-20',
      model: 'claude-sonnet-4-5',
      workspace_id: 'wrk_a',
      api_key_id: 'key_1',
      uncached_input_tokens: 300,
      output_tokens: 30,
    },
  ],
  cost: [
    {
      day: '2026-11-18',
      amount: '1.0',
      workspace_id: 'wrk_a',
      description: 'Claude Sonnet 4.5 Usage - Input Tokens',
      model: 'claude-sonnet-4-5',
    },
    {
      day: '2026-11-19',
      amount: '1234.5',
      workspace_id: 'wrk_a',
      description: 'Claude Sonnet 4.5 Usage - Input Tokens',
      model: 'claude-sonnet-4-5',
    },
    {
      day: '2026-11-19',
      amount: '0.0001',
      workspace_id: 'wrk_zzz',
      description: 'Claude Sonnet 4.5 Usage - Output Tokens',
      model: 'claude-sonnet-4-5',
    },
    {
      day: '2026-11-20',
      amount: '50.25',
      workspace_id: 'wrk_a',
      description: 'Claude Sonnet 4.5 Usage - Input Tokens',
      model: 'claude-sonnet-4-5',
    },
  ],
};

const openaiData: FakeOpenAIData = {
  usage: [
    {
      day: '2026-11-19',
      model: 'gpt-4o',
      project_id: 'proj_x',
      api_key_id: 'k',
      input_tokens: 900,
      output_tokens: 90,
      input_cached_tokens: 100,
      num_model_requests: 3,
    },
  ],
  cost: [
    { day: '2026-11-19', value: 1.5, project_id: 'proj_x', line_item: 'gpt-4o, input' },
    { day: '2026-11-20', value: 0.25, project_id: 'proj_x', line_item: 'gpt-4o, output' },
  ],
};

function costConfig(anthropicUrl: string, openaiUrl: string, anthropicKey = ANTHROPIC_KEY) {
  return {
    providers: {
      anthropic: { admin_api_key: anthropicKey, base_url: anthropicUrl },
      openai: { admin_api_key: OPENAI_KEY, base_url: openaiUrl },
    },
    projects: [
      { provider: 'anthropic', kind: 'workspace', id: 'wrk_a', project: 'alpha' },
      { provider: 'openai', kind: 'project', id: 'proj_x', project: 'beta' },
    ],
  };
}

async function fakes(t: import('node:test').TestContext, extraFields = false) {
  const anthropic = await startFakeAnthropic({
    adminKey: ANTHROPIC_KEY,
    pageSize: 1,
    now: () => NOW,
    data: anthropicData,
    extraFields,
  });
  const openai = await startFakeOpenAI({
    adminKey: OPENAI_KEY,
    pageSize: 2,
    now: () => NOW,
    data: openaiData,
    extraFields,
  });
  t.after(() => anthropic.stop());
  t.after(() => openai.stop());
  return { anthropic, openai };
}

type Nc = Awaited<ReturnType<typeof startBus>>['nc'];
const report = (nc: Nc, body: Record<string, unknown> = { period: 'week' }) =>
  request(nc, subjects.costQuery(CostQuery.REPORT), body, costReportSchema);

/** Billed totals of the week: $0.01 + $12.345 + $0.000001 + $0.5025 (Anthropic) + $1.5 + $0.25 (OpenAI). */
const WEEK_BILLED = 14.607501;

test('billing - every page of both providers is read with the real parameters, totals are exact', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(t);
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();

  const r = await report(nc);
  assert.equal(r.totals.billed_usd, WEEK_BILLED);
  assert.deepEqual(
    r.reconciliation.map((x) => [x.provider, x.project, x.billed_usd]),
    [
      ['anthropic', 'alpha', 12.8575],
      ['anthropic', 'unattributed', 0.000001],
      ['openai', 'beta', 1.75],
    ],
  );
  assert.deepEqual(
    r.days.map((d) => [d.day, d.billed_usd]),
    [
      ['2026-11-14', 0],
      ['2026-11-15', 0],
      ['2026-11-16', 0],
      ['2026-11-17', 0],
      ['2026-11-18', 0.01],
      ['2026-11-19', 13.845001],
      ['2026-11-20', 0.7525],
    ],
  );
  assert.deepEqual(
    r.providers.map((p) => [p.provider, p.state, p.reason]),
    [
      ['anthropic', 'ok', null],
      ['openai', 'ok', null],
    ],
  );

  // Anthropic: 3 days, one bucket a page → 3 pages each for usage and cost.
  const usageReqs = anthropic.requests.filter((q) => q.path === '/v1/organizations/usage_report/messages');
  assert.equal(usageReqs.length, 3);
  const first = usageReqs[0]!;
  assert.equal(first.query.get('starting_at'), '2026-11-18T00:00:00.000Z');
  assert.equal(first.query.get('ending_at'), '2026-11-21T00:00:00.000Z');
  assert.equal(first.query.get('bucket_width'), '1d');
  assert.deepEqual(first.query.getAll('group_by[]'), ['model', 'workspace_id', 'api_key_id']);
  assert.equal(first.headers['anthropic-version'], '2023-06-01');
  assert.equal(first.query.get('page'), null);
  assert.ok(usageReqs[1]!.query.get('page')?.startsWith('page_'));
  const openaiUsage = openai.requests.filter((q) => q.path === '/v1/organization/usage/completions');
  assert.equal(openaiUsage.length, 2);
  assert.equal(openaiUsage[0]!.query.get('start_time'), String(Date.parse('2026-11-18T00:00:00Z') / 1000));
  assert.equal(openaiUsage[0]!.query.get('end_time'), String(Date.parse('2026-11-21T00:00:00Z') / 1000));
  assert.deepEqual(openaiUsage[0]!.query.getAll('group_by[]'), ['model', 'project_id', 'api_key_id']);
  assert.equal(openaiUsage[0]!.headers.authorization, `Bearer ${OPENAI_KEY}`);

  // A second poll over the same days changes nothing.
  await h.poller.pollNow();
  assert.deepEqual((await report(nc)).totals, r.totals);
});

test('billing - 429 honours retry-after, 5xx is retried with backoff, totals stay exact', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(t);
  anthropic.failNext('429', 1, '7');
  anthropic.failNext('500', 2);
  openai.failNext('429', 1, new Date(NOW + 3_000).toUTCString());
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();
  assert.equal(h.sleeps[0], 7_000);
  assert.deepEqual(h.sleeps.slice(1, 3), [500, 1000]);
  assert.equal(h.sleeps.length, 4);
  assert.deepEqual(
    anthropic.requests.slice(0, 4).map((q) => q.status),
    [429, 500, 500, 200],
  );
  assert.equal((await report(nc)).totals.billed_usd, WEEK_BILLED);
});

test('billing - a refused admin key degrades that provider only, with the reason in reports and readiness', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(t);
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url, 'sk-ant-admin01-wrong'));
  await h.poller.pollNow();
  const r = await report(nc);
  assert.deepEqual(
    r.providers.map((p) => [p.provider, p.state, p.reason]),
    [
      ['anthropic', 'degraded', 'anthropic: admin key refused (HTTP 401)'],
      ['openai', 'ok', null],
    ],
  );
  assert.equal(r.totals.billed_usd, 1.75);
  const ready = await h.readiness.evaluate();
  assert.equal(ready.ready, true);
  assert.deepEqual(
    ready.checks.find((c) => c.name === 'cost.providers'),
    {
      name: 'cost.providers',
      ok: true,
      detail: 'degraded: anthropic: admin key refused (HTTP 401)',
    },
  );
  assert.ok(
    h.sink.lines.some(
      (l) =>
        l.msg === 'provider poll failed; keeping its previous figures' && l.code === 'PROVIDER_AUTH_FAILED',
    ),
  );
});

test('billing - a late revision of yesterday replaces the old value on the next poll', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(t);
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();
  anthropic.revise('2026-11-19', {
    cost: [
      {
        day: '2026-11-19',
        amount: '2000',
        workspace_id: 'wrk_a',
        description: 'Claude Sonnet 4.5 Usage - Input Tokens',
        model: 'claude-sonnet-4-5',
      },
    ],
  });
  await h.poller.pollNow();
  const r = await report(nc);
  // 12.345 + 0.000001 on the 19th became 20.00.
  assert.equal(r.totals.billed_usd, 22.2625);
  assert.deepEqual(
    r.days.find((d) => d.day === '2026-11-19'),
    { day: '2026-11-19', observed_usd: 0, billed_usd: 21.5 },
  );
});

test('billing - HTML, truncated JSON, negative and non-numeric amounts degrade and never change a total', async (t) => {
  const { nc } = await startBus(t);
  const { anthropic, openai } = await fakes(t, true);
  const h = await startPoller(t, nc, costConfig(anthropic.url, openai.url));
  await h.poller.pollNow();
  // Unknown fields everywhere (extraFields) are tolerated.
  assert.equal((await report(nc)).totals.billed_usd, WEEK_BILLED);
  // A revision that a broken cycle must not write.
  anthropic.revise('2026-11-20', { cost: [{ day: '2026-11-20', amount: '99999', workspace_id: 'wrk_a' }] });
  const usage = '/v1/organizations/usage_report/messages';
  const cost = '/v1/organizations/cost_report';
  // The cost failures land after every usage page was read: the cycle fails mid-way.
  const cases: Array<[Parameters<typeof anthropic.failNext>[0], string, string]> = [
    ['html', usage, `${usage} answered HTML instead of JSON`],
    ['truncated', cost, `${cost} answered truncated or invalid JSON`],
    [
      'negative',
      usage,
      `${usage} response rejected at data[0].results[0].output_tokens: Too small: expected number to be >=0`,
    ],
    [
      'negative',
      cost,
      `${cost} response rejected at data[0].results[0].amount: must be a non-negative decimal string of cents`,
    ],
    [
      'non_numeric',
      cost,
      `${cost} response rejected at data[0].results[0].amount: must be a non-negative decimal string of cents`,
    ],
  ];
  for (const [kind, path, reason] of cases) {
    h.sink.lines.length = 0;
    anthropic.failNext(kind, 1, undefined, path);
    await h.poller.pollNow();
    const r = await report(nc);
    assert.equal(r.totals.billed_usd, WEEK_BILLED, `${kind} on ${path}: total unchanged`);
    const status = r.providers.find((p) => p.provider === 'anthropic');
    assert.equal(status?.state, 'degraded', kind);
    assert.equal(status?.reason, `anthropic: ${reason}`, kind);
    const line = h.sink.lines.find((l) => l.msg === 'provider poll failed; keeping its previous figures');
    assert.equal(line?.code, 'PROVIDER_BAD_RESPONSE');
    assert.equal(line?.provider, 'anthropic');
  }
  const ready = await h.readiness.evaluate();
  assert.equal(ready.ready, true);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventRecord } from '@hal/protocol';
import { budgetViews, NOW, spend, spendEvent, startBus, startPoller, storedCostEvents } from './harness.ts';

const at = (iso: string) => Date.parse(iso);
const NODE_OF: Record<string, string> = { alpha: 'node-a', beta: 'node-b', gamma: 'node-c' };
const ev = (project: string, session: string, message: string, costUsd: number, when = NOW - 60_000) =>
  spendEvent({ node: NODE_OF[project] ?? 'node-x', project, session, message, costUsd, at: when });

/** The parts of a budget event a policy acts on, one line each. */
const brief = (e: EventRecord) => {
  const d = e.data as { budget: string; period_key: string; spent_usd: number; share: number };
  return [e.type, e.node, e.project, e.session, d.budget, d.period_key, d.spent_usd, d.share, e.time];
};
const T0 = '2026-11-20T15:00:00.000Z';

test('budgets - session budget warns and exceeds once per session; a new session is a new period, a new day is not', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, {
    forecast: false,
    budgets: [{ name: 'per-session', scope: 'session', limit_usd: 1 }],
  });
  await spend(nc, h, [ev('alpha', 's1', 'm1', 0.85)], 1);
  await spend(nc, h, [ev('beta', 's2', 'm2', 0.6), ev('alpha', 's1', 'm3', 0.3)], 3);
  // s2 jumps from $0.60 to $1.60: exceeded only, its warning is recorded as passed.
  await spend(nc, h, [ev('beta', 's2', 'm4', 1)], 4);
  await h.poller.evaluateBudgets();
  const events = await storedCostEvents(nc);
  assert.deepEqual(events[0]?.data, {
    budget: 'per-session',
    scope: 'session',
    period: 'month',
    period_key: 'session',
    limit_usd: 1,
    spent_usd: 0.85,
    share: 0.85,
    warn_share: 0.8,
  });
  // The session's life is its period: the next day changes nothing for s1; s3 is new.
  h.clock.t = at('2026-11-21T09:00:00Z');
  await spend(nc, h, [ev('alpha', 's1', 'm5', 0.1), ev('gamma', 's3', 'm6', 0.9, h.clock.t - 60_000)], 6);
  await h.poller.evaluateBudgets();
  const T1 = '2026-11-21T09:00:00.000Z';
  assert.deepEqual((await storedCostEvents(nc)).map(brief), [
    ['cost.budget_warning', 'node-a', 'alpha', 's1', 'per-session', 'session', 0.85, 0.85, T0],
    ['cost.budget_exceeded', 'node-a', 'alpha', 's1', 'per-session', 'session', 1.15, 1.15, T0],
    ['cost.budget_exceeded', 'node-b', 'beta', 's2', 'per-session', 'session', 1.6, 1.6, T0],
    ['cost.budget_warning', 'node-c', 'gamma', 's3', 'per-session', 'session', 0.9, 0.9, T1],
  ]);
  const [view] = await budgetViews(nc);
  assert.deepEqual(
    [view?.spent_usd, view?.state, view?.period_key, view?.forecast_usd],
    [1.6, 'exceeded', 'session', null],
  );
  assert.deepEqual(
    view?.sessions.map((s) => [s.session, s.node, s.project, s.spent_usd, s.share, s.state]),
    [
      ['s2', 'node-b', 'beta', 1.6, 1.6, 'exceeded'],
      ['s1', 'node-a', 'alpha', 1.25, 1.25, 'exceeded'],
      ['s3', 'node-c', 'gamma', 0.9, 0.9, 'warning'],
    ],
  );
});

test('budgets - fleet day budget counts every project, fires once per UTC day and again after midnight', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, {
    forecast: false,
    budgets: [{ name: 'fleet-daily', period: 'day', limit_usd: 2 }],
  });
  // Yesterday's $5.00 is another period; today $0.90 + $0.70 = $1.60 = exactly the 80 % line.
  await spend(
    nc,
    h,
    [
      ev('alpha', 's0', 'm0', 5, at('2026-11-19T23:59:00Z')),
      ev('alpha', 's1', 'm1', 0.9),
      ev('beta', 's2', 'm2', 0.7),
    ],
    3,
  );
  await spend(nc, h, [ev('gamma', 's3', 'm3', 0.5)], 4);
  await spend(nc, h, [ev('gamma', 's3', 'm4', 0.3)], 5);
  const first = (await storedCostEvents(nc))[0];
  assert.deepEqual(first?.data, {
    budget: 'fleet-daily',
    scope: 'fleet',
    period: 'day',
    period_key: '2026-11-20',
    limit_usd: 2,
    spent_usd: 1.6,
    share: 0.8,
    warn_share: 0.8,
  });

  h.clock.t = at('2026-11-21T00:05:00Z');
  await h.poller.evaluateBudgets();
  const fresh = (await budgetViews(nc))[0];
  assert.deepEqual([fresh?.period_key, fresh?.spent_usd, fresh?.state], ['2026-11-21', 0, 'ok']);
  await spend(nc, h, [ev('beta', 's2', 'm5', 1.7, at('2026-11-21T00:01:00Z'))], 6);
  await spend(nc, h, [ev('alpha', 's1', 'm6', 0.4, at('2026-11-21T00:02:00Z'))], 7);
  await h.poller.evaluateBudgets();
  const T1 = '2026-11-21T00:05:00.000Z';
  assert.deepEqual((await storedCostEvents(nc)).map(brief), [
    ['cost.budget_warning', 'control-plane', '', null, 'fleet-daily', '2026-11-20', 1.6, 0.8, T0],
    ['cost.budget_exceeded', 'control-plane', '', null, 'fleet-daily', '2026-11-20', 2.1, 1.05, T0],
    ['cost.budget_warning', 'control-plane', '', null, 'fleet-daily', '2026-11-21', 1.7, 0.85, T1],
    ['cost.budget_exceeded', 'control-plane', '', null, 'fleet-daily', '2026-11-21', 2.1, 1.05, T1],
  ]);
});

test('budgets - project month budget counts only its project and month, fires once, again in the next month and year', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, {
    forecast: false,
    budgets: [{ name: 'alpha-monthly', period: 'month', limit_usd: 3, project: 'alpha' }],
  });
  // November alpha: $1.00 on the 2nd + $1.45 today = $2.45 (81.67 %). October and beta do not count.
  await spend(
    nc,
    h,
    [
      ev('alpha', 's0', 'm0', 5, at('2026-10-31T23:59:59Z')),
      ev('beta', 's9', 'm9', 10),
      ev('alpha', 's1', 'm1', 1, at('2026-11-02T08:00:00Z')),
      ev('alpha', 's1', 'm2', 1.45),
    ],
    4,
  );
  h.clock.t = at('2026-11-30T23:00:00Z');
  await spend(nc, h, [ev('alpha', 's2', 'm3', 0.6, h.clock.t - 60_000)], 5);
  await spend(nc, h, [ev('alpha', 's2', 'm4', 0.5, h.clock.t - 30_000)], 6);
  const first = (await storedCostEvents(nc))[0];
  assert.deepEqual(first?.data, {
    budget: 'alpha-monthly',
    scope: 'project',
    period: 'month',
    period_key: '2026-11',
    limit_usd: 3,
    spent_usd: 2.45,
    share: 0.8167,
    warn_share: 0.8,
  });

  h.clock.t = at('2026-12-01T00:10:00Z');
  await h.poller.evaluateBudgets();
  const fresh = (await budgetViews(nc))[0];
  assert.deepEqual([fresh?.period_key, fresh?.spent_usd, fresh?.state], ['2026-12', 0, 'ok']);
  await spend(nc, h, [ev('alpha', 's3', 'm5', 2.5, at('2026-12-01T00:05:00Z'))], 7);
  // Month end of December is also a year end.
  h.clock.t = at('2027-01-01T00:00:00Z');
  await spend(nc, h, [ev('alpha', 's4', 'm6', 3, h.clock.t)], 8);
  await h.poller.evaluateBudgets();
  assert.deepEqual((await storedCostEvents(nc)).map(brief), [
    ['cost.budget_warning', 'control-plane', 'alpha', null, 'alpha-monthly', '2026-11', 2.45, 0.8167, T0],
    [
      'cost.budget_exceeded',
      'control-plane',
      'alpha',
      null,
      'alpha-monthly',
      '2026-11',
      3.05,
      1.0167,
      '2026-11-30T23:00:00.000Z',
    ],
    [
      'cost.budget_warning',
      'control-plane',
      'alpha',
      null,
      'alpha-monthly',
      '2026-12',
      2.5,
      0.8333,
      '2026-12-01T00:10:00.000Z',
    ],
    [
      'cost.budget_exceeded',
      'control-plane',
      'alpha',
      null,
      'alpha-monthly',
      '2027-01',
      3,
      1,
      '2027-01-01T00:00:00.000Z',
    ],
  ]);
});

test('budgets - every session over the line is warned, beyond the 20 the budget view lists', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, {
    forecast: false,
    budgets: [{ name: 'per-session', scope: 'session', limit_usd: 1 }],
  });
  // 21 sessions from $0.90 down to $0.85 (0.25 cent steps): the lowest one is 21st by spend.
  const events = Array.from({ length: 21 }, (_, i) =>
    ev('alpha', `s${String(i + 1).padStart(2, '0')}`, `m${i}`, (9000 - i * 25) / 10_000),
  );
  await spend(nc, h, events, 21);
  await h.poller.evaluateBudgets();
  const stored = await storedCostEvents(nc);
  assert.equal(stored.length, 21);
  assert.deepEqual(brief(stored.find((e) => e.session === 's21')!), [
    'cost.budget_warning',
    'node-a',
    'alpha',
    's21',
    'per-session',
    'session',
    0.85,
    0.85,
    T0,
  ]);
  const [view] = await budgetViews(nc);
  assert.equal(view?.sessions.length, 20);
  assert.equal(view?.sessions[19]?.session, 's20');
});

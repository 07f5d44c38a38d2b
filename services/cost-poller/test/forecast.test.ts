import assert from 'node:assert/strict';
import { test } from 'node:test';
import { budgetViews, NOW, spend, spendEvent, startBus, startPoller, storedCostEvents } from './harness.ts';

const H = 3_600_000;
const at = (iso: string) => Date.parse(iso);

const budgets = [
  { name: 'alpha-daily', period: 'day', limit_usd: 10, project: 'alpha' },
  { name: 'alpha-monthly', period: 'month', limit_usd: 400, project: 'alpha' },
  { name: 'fleet-daily', period: 'day', limit_usd: 100 },
];

const alpha = (message: string, costUsd: number, when: number) =>
  spendEvent({ node: 'node-a', project: 'alpha', session: 's1', message, costUsd, at: when });

test('forecast - last-hour burn projecting past a day budget publishes one forecast event with the figures', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, { budgets });
  assert.equal(h.clock.now(), NOW);

  // 15:00 UTC. alpha: $0.50 at 09:00 (today, outside the last hour) + $1.00 at 14:30 (inside it).
  // beta: $0.25 at 14:45 (fleet only).
  await spend(
    nc,
    h,
    [
      alpha('m1', 0.5, NOW - 6 * H),
      alpha('m2', 1, NOW - H / 2),
      spendEvent({
        node: 'node-b',
        project: 'beta',
        session: 's2',
        message: 'm3',
        costUsd: 0.25,
        at: NOW - H / 4,
      }),
    ],
    3,
  );
  // alpha-daily: $1.50 + $1.00/h × 9 h left = $10.50 > $10. alpha-monthly: $1.50 + $1.00/h × 249 h = $250.50 < $400.
  // fleet-daily: $1.75 + $1.25/h × 9 h = $13.00 < $100.
  const forecastEvent = {
    type: 'cost.forecast_exceeds_budget',
    node: 'control-plane',
    project: 'alpha',
    session: null,
    time: '2026-11-20T15:00:00.000Z',
    data: {
      budget: 'alpha-daily',
      scope: 'project',
      period: 'day',
      period_key: '2026-11-20',
      limit_usd: 10,
      spent_usd: 1.5,
      share: 0.15,
      warn_share: 0.8,
      burn_rate_usd_per_hour: 1,
      forecast_usd: 10.5,
    },
  };
  const pick = (e: Awaited<ReturnType<typeof storedCostEvents>>[number]) => ({
    type: e.type,
    node: e.node,
    project: e.project,
    session: e.session,
    time: e.time,
    data: e.data,
  });
  assert.deepEqual((await storedCostEvents(nc)).map(pick), [forecastEvent]);
  const views = await budgetViews(nc);
  assert.deepEqual(
    views.map((v) => [
      v.name,
      v.period_key,
      v.spent_usd,
      v.state,
      v.burn_rate_usd_per_hour,
      v.forecast_usd,
      v.forecast_exceeds,
    ]),
    [
      ['alpha-daily', '2026-11-20', 1.5, 'ok', 1, 10.5, true],
      ['alpha-monthly', '2026-11', 1.5, 'ok', 1, 250.5, false],
      ['fleet-daily', '2026-11-20', 1.75, 'ok', 1.25, 13, false],
    ],
  );

  // Same period, still projecting past the limit: no second event. 15:20, $0.40 more at 15:10.
  // Burn over (14:20, 15:20] = $1.40/h; 8 h 40 min left → $1.90 + $12.133333 (rounded to the micro-dollar).
  h.clock.t = NOW + 20 * 60_000;
  await spend(nc, h, [alpha('m4', 0.4, NOW + 10 * 60_000)], 4);
  await h.poller.evaluateBudgets();
  assert.deepEqual((await storedCostEvents(nc)).map(pick), [forecastEvent]);
  const later = (await budgetViews(nc))[0];
  assert.deepEqual(
    [later?.spent_usd, later?.burn_rate_usd_per_hour, later?.forecast_usd, later?.forecast_exceeds],
    [1.9, 1.4, 14.033333, true],
  );

  // A restart keeps the record: the period's forecast is not published again.
  await h.restart();
  await h.poller.evaluateBudgets();
  assert.equal((await storedCostEvents(nc)).length, 1);

  // Past midnight UTC a new day budget period starts: $1.00 at 00:15, 23.5 h left → $24.50 > $10.
  h.clock.t = at('2026-11-21T00:30:00Z');
  await spend(nc, h, [alpha('m5', 1, at('2026-11-21T00:15:00Z'))], 5);
  const events = (await storedCostEvents(nc)).map(pick);
  assert.equal(events.length, 2);
  assert.deepEqual(events[1], {
    ...forecastEvent,
    time: '2026-11-21T00:30:00.000Z',
    data: {
      ...forecastEvent.data,
      period_key: '2026-11-21',
      spent_usd: 1,
      share: 0.1,
      burn_rate_usd_per_hour: 1,
      forecast_usd: 24.5,
    },
  });
  // The month still counts every November day: $2.90 + $1.00/h × 239.5 h.
  const month = (await budgetViews(nc))[1];
  assert.deepEqual([month?.period_key, month?.spent_usd, month?.forecast_usd], ['2026-11', 2.9, 242.4]);
});

test('forecast - disabled: the projection is shown but no forecast event is published', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, { budgets, forecast: false });
  await spend(nc, h, [alpha('m1', 0.5, NOW - 6 * H), alpha('m2', 1, NOW - H / 2)], 2);
  await h.poller.evaluateBudgets();
  assert.deepEqual(await storedCostEvents(nc), []);
  const v = (await budgetViews(nc))[0];
  assert.deepEqual([v?.burn_rate_usd_per_hour, v?.forecast_usd, v?.forecast_exceeds], [1, 10.5, true]);
});

test('forecast - a budget already exceeded gets the exceeded event, not a forecast', async (t) => {
  const { nc } = await startBus(t);
  const h = await startPoller(t, nc, { budgets: [budgets[0]] });
  await spend(nc, h, [alpha('m1', 10.25, NOW - H / 2)], 1);
  const events = await storedCostEvents(nc);
  assert.deepEqual(
    events.map((e) => [e.type, (e.data as { spent_usd: number }).spent_usd]),
    [['cost.budget_exceeded', 10.25]],
  );
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventRecord } from '@hal/protocol';
import { contentOf } from '../src/notification-content.ts';

const event = (
  type: string,
  data: Record<string, unknown>,
  session: string | null = 'ses_1',
): EventRecord => ({
  version: 1,
  id: '00000000-0000-4000-8000-000000000001',
  seq: 0,
  node: 'alpha',
  project: 'web',
  session,
  type,
  time: '2026-11-30T10:00:00.000Z',
  data,
});

const budget = {
  budget: 'web-daily',
  scope: 'session',
  period: 'day',
  period_key: '2026-11-30',
  limit_usd: 5,
  spent_usd: 5.1,
  share: 1.02,
  warn_share: 0.8,
};

test('notification content - a budget exceeded says which budget, spent of limit and the period; Kill for a session', () => {
  const c = contentOf(event('cost.budget_exceeded', budget), 'critical');
  assert.equal(c.title, 'Budget exceeded: web-daily — $5.10 of $5.00 (2026-11-30)');
  assert.match(c.body, /The session budget "web-daily" is spent: \$5\.10 of \$5\.00/);
  assert.deepEqual(
    c.fields.filter((f) => ['Budget', 'Spent', 'Limit'].includes(f.name)),
    [
      { name: 'Budget', value: 'web-daily (session, day)' },
      { name: 'Spent', value: '$5.10' },
      { name: 'Limit', value: '$5.00' },
    ],
  );
  assert.deepEqual(
    c.actions.map((a) => [a.label, a.command.path]),
    [['Kill', '/api/v1/sessions/ses_1/kill']],
  );
});

test('notification content - a warning shows the share, a forecast the projection; a fleet budget has no session action', () => {
  const warn = contentOf(event('cost.budget_warning', { ...budget, spent_usd: 4.2, share: 0.84 }), 'warning');
  assert.equal(warn.title, 'Budget at 84 %: web-daily — $4.20 of $5.00 (2026-11-30)');
  const forecast = contentOf(
    event(
      'cost.forecast_exceeds_budget',
      { ...budget, scope: 'fleet', forecast_usd: 7.5, burn_rate_usd_per_hour: 0.31, spent_usd: 2 },
      null,
    ),
    'warning',
  );
  assert.equal(forecast.title, 'Budget forecast over: web-daily heading for $7.50 of $5.00 (2026-11-30)');
  assert.deepEqual(forecast.actions, []);
  assert.ok(forecast.fields.some((f) => f.name === 'Burn rate' && f.value === '$0.31/h'));
});

test('notification content - a budget event with odd data still reads (no NaN, no throw)', () => {
  const c = contentOf(event('cost.budget_exceeded', { budget: 42, spent_usd: 'lots' }), 'critical');
  assert.equal(c.title, 'Budget exceeded: budget — ? of ?');
  assert.doesNotMatch(JSON.stringify(c), /NaN|undefined/);
});

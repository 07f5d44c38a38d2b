import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, parseConfig } from '@hal/config';
import { TOKEN } from './fixtures.ts';

const base = { server: { auth_token: TOKEN } };

function problemsOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return [...err.problems];
  }
  assert.fail('expected a ConfigError');
}

test('cost config - defaults for forecast and re-poll days', () => {
  const c = parseConfig('supervisor', base, { env: {} });
  assert.equal(c.cost.forecast, true);
  assert.equal(c.cost.repoll_days, 3);
  assert.equal(c.cost.warn_share, 0.8);
});

test('cost config - budgets without scope keep their old meaning', () => {
  const c = parseConfig(
    'supervisor',
    {
      ...base,
      cost: {
        budgets: [
          { name: 'alpha-day', period: 'day', limit_usd: 1, project: 'alpha' },
          { name: 'fleet', limit_usd: 100 },
          { name: 'per-session', scope: 'session', limit_usd: 5 },
        ],
      },
    },
    { env: {} },
  );
  assert.deepEqual(
    c.cost.budgets.map((b) => [b.name, b.scope, b.period]),
    [
      ['alpha-day', 'project', 'day'],
      ['fleet', 'fleet', 'month'],
      ['per-session', 'session', 'month'],
    ],
  );
});

test('cost config - a project budget without project, or a fleet budget with one, is refused', () => {
  const problems = problemsOf(() =>
    parseConfig(
      'supervisor',
      {
        ...base,
        cost: {
          budgets: [
            { name: 'a', scope: 'project', limit_usd: 1 },
            { name: 'b', scope: 'fleet', project: 'x', limit_usd: 1 },
          ],
        },
      },
      { env: {} },
    ),
  );
  assert.deepEqual(problems, [
    {
      path: 'cost.budgets[0].project',
      message:
        'a budget with scope "project" needs "project": the project it limits; the supervisor will not start until this is fixed',
    },
    {
      path: 'cost.budgets[1].project',
      message:
        'a budget with scope "fleet" counts every project: remove "project" or use scope "project"; the supervisor will not start until this is fixed',
    },
  ]);
});

test('cost config - duplicate budget names, bad scope and bad re-poll days are refused', () => {
  const problems = problemsOf(() =>
    parseConfig(
      'supervisor',
      {
        ...base,
        cost: {
          repoll_days: 0,
          budgets: [{ name: 'odd', scope: 'galaxy', limit_usd: 2 }],
        },
      },
      { env: {} },
    ),
  );
  assert.deepEqual(problems.map((p) => p.path).sort(), ['cost.budgets[0].scope', 'cost.repoll_days']);
  const dup = problemsOf(() =>
    parseConfig(
      'supervisor',
      {
        ...base,
        cost: {
          budgets: [
            { name: 'same', limit_usd: 1 },
            { name: 'same', limit_usd: 2 },
          ],
        },
      },
      { env: {} },
    ),
  );
  assert.deepEqual(dup, [
    {
      path: 'cost.budgets[1].name',
      message: 'budget name "same" is used twice; the supervisor will not start until this is fixed',
    },
  ]);
});

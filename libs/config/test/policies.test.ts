import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_ROUTES, parseConfig, runValidate } from '../src/index.ts';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

function validate(t: Parameters<typeof tempDir>[0], raw: Record<string, unknown>) {
  const { dir, write } = tempDir(t);
  const file = write('s.json', JSON.stringify({ server: { auth_token: TOKEN }, ...raw }));
  const err = memorySink();
  const code = runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir });
  // `note:` lines (what the shared token allows) are not problems.
  const text = err
    .text()
    .split('\n')
    .filter((line) => !line.startsWith('note: '))
    .join('\n');
  return { code, text };
}

test('policies config - defaults: acting policies off, alerting policies on, default routes', () => {
  const c = parseConfig('supervisor', { server: { auth_token: TOKEN } });
  assert.deepEqual(
    Object.entries(c.policies).map(([name, p]) => [name, p.enabled, p.dry_run]),
    [
      ['resume_on_idle', false, false],
      ['restart_on_compaction', false, false],
      ['kill_on_cost', false, false],
      ['resume_after_limit', false, false],
      ['error_loop', true, false],
      ['escalate_waiting_input', true, false],
      ['node_offline', true, false],
      // Safe environment fixes on connect are automatic (risky ones wait for an approval).
      ['provision_on_connect', true, false],
      ['start_dependents', false, false],
    ],
  );
  assert.deepEqual(c.routes, DEFAULT_ROUTES);
  assert.equal(c.policies.kill_on_cost.action, 'kill');
  assert.equal(c.policies.resume_after_limit.fallback_seconds, 900);
});

test('policies config - negative thresholds and retries fail with their key paths', (t) => {
  const { code, text } = validate(t, {
    policies: {
      resume_on_idle: { max_retries: -1, retry_reset_seconds: -60 },
      kill_on_cost: { cost_threshold_usd: -5, action: 'explode' },
      error_loop: { errors: 0, window_seconds: -1 },
      node_offline: { cooldown_seconds: -3 },
    },
  });
  assert.equal(code, 1);
  assert.match(text, /^policies\.resume_on_idle\.max_retries: /m);
  assert.match(text, /^policies\.resume_on_idle\.retry_reset_seconds: /m);
  assert.match(text, /^policies\.kill_on_cost\.cost_threshold_usd: must be greater than 0, got -5/m);
  assert.match(text, /^policies\.kill_on_cost\.action: /m);
  assert.match(text, /^policies\.error_loop\.errors: must be greater than 0, got 0/m);
  assert.match(text, /^policies\.error_loop\.window_seconds: must be greater than 0, got -1/m);
  assert.match(text, /^policies\.node_offline\.cooldown_seconds: /m);
});

test('policies config - unknown policy, bad route glob, unknown where key and unknown targets', (t) => {
  const { code, text } = validate(t, {
    policies: { kill_on_idle: { enabled: true } },
    channels: {
      discord: {
        bot_token: 'x'.repeat(40),
        guild_id: '100000000000000001',
        channels: { alerts: '100000000000000002' },
      },
    },
    routes: [
      { match: 'Session Error', target: 'discord#alerts' },
      { match: 'session.error', where: { host: 'a' }, target: 'discord#alerts' },
      { match: 'cost.*', target: 'discord#pager' },
      { match: '*', where: { severity: 'loud' }, target: 'webhook#ops' },
    ],
  });
  assert.equal(code, 1);
  assert.match(text, /^policies\.kill_on_idle: unknown key/m);
  assert.match(text, /^routes\[0\]\.match: must be an event type or a glob on one/m);
  assert.match(text, /^routes\[1\]\.where\.host: unknown key/m);
  assert.match(
    text,
    /^routes\[2\]\.target: unknown target "discord#pager": channels\.discord\.channels has no "pager" route/m,
  );
  assert.match(text, /^routes\[3\]\.where\.severity: /m);
  assert.match(text, /^routes\[3\]\.target: unknown target "webhook#ops": no webhooks\.ops is configured/m);
});

test('policies config - a valid policy config passes', (t) => {
  const { code, text } = validate(t, {
    policies: { resume_on_idle: { enabled: true, idle_threshold_seconds: 1, max_retries: 2, dry_run: true } },
    routes: [{ match: 'session.*', where: { project: 'alpha' }, target: 'webhook#ops' }],
    webhooks: { ops: { url: 'https://example.test/hook', headers: { 'x-team': 'ops' } } },
  });
  assert.equal(text, '');
  assert.equal(code, 0);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serve } from '@hal/bus';
import { type PolicyView, policyQuerySchemas, QueueGroup, subjects } from '@hal/protocol';
import { bearer, log, startApiFixture, TOKENS } from './api-stand-ins.ts';

const view = (enabled: boolean, source: 'config' | 'override'): PolicyView => ({
  name: 'resume_on_idle',
  enabled,
  enabled_source: source,
  dry_run: false,
  config: { idle_threshold_seconds: 300 },
  recent_actions: [],
});

test('api policies - list for viewers, enable/disable for admins only, audited; 503 without the service', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const app = fx.api.app;
  const none = await app.inject({ method: 'GET', url: '/api/v1/policies', headers: bearer(TOKENS.viewer) });
  assert.equal(none.statusCode, 503);
  assert.deepEqual(none.json(), {
    error: { code: 'UNAVAILABLE', message: 'the policy service is not running (no answer on hal.q.policy)' },
  });

  // A stand-in for the policy service (services never import each other, even in tests).
  const toggled: Array<{ name: string }> = [];
  const servers = [
    serve(fx.nc, {
      subject: subjects.policyQuery('list'),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.list.request,
      log,
      handler: async () => ({ policies: [view(true, 'config')] }),
    }),
    serve(fx.nc, {
      subject: subjects.policyQuery('disable'),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.disable.request,
      log,
      handler: async (body) => {
        toggled.push(body);
        return view(false, 'override');
      },
    }),
  ];
  t.after(() => Promise.all(servers.map((s) => s.stop())));

  const list = await app.inject({ method: 'GET', url: '/api/v1/policies', headers: bearer(TOKENS.viewer) });
  assert.equal(list.statusCode, 200);
  assert.deepEqual(list.json().data, [view(true, 'config')]);
  assert.equal(list.json().meta.count, 1);

  const refused = await app.inject({
    method: 'POST',
    url: '/api/v1/policies/resume_on_idle/disable',
    headers: bearer(TOKENS.operator),
  });
  assert.equal(refused.statusCode, 403);
  assert.equal(toggled.length, 0);

  const done = await app.inject({
    method: 'POST',
    url: '/api/v1/policies/resume_on_idle/disable',
    headers: bearer(TOKENS.admin),
  });
  assert.equal(done.statusCode, 200);
  assert.deepEqual(done.json().data, view(false, 'override'));
  assert.equal(toggled.length, 1);
  assert.equal(toggled[0]?.name, 'resume_on_idle');

  const audit = await app.inject({ method: 'GET', url: '/api/v1/audit', headers: bearer(TOKENS.admin) });
  const actions = (
    audit.json().data as Array<{ action: string; target: Record<string, string>; actor: { id: string } }>
  ).filter((r) => r.action.startsWith('policy.'));
  assert.deepEqual(
    actions.map((r) => [r.action, r.target.policy, r.actor.id]),
    [
      ['policy.disable', 'resume_on_idle', 'server.auth_token'],
      // The operator's refused attempt is audited too.
      ['policy.disable', 'resume_on_idle', 'otto'],
    ],
  );
});

test('api policies - dry-run on/off for admins only, body checked, passed on with the actor, audited', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const app = fx.api.app;
  const asked: unknown[] = [];
  const server = serve(fx.nc, {
    subject: subjects.policyQuery('dry_run'),
    queue: QueueGroup.POLICY,
    schema: policyQuerySchemas.dry_run.request,
    log,
    handler: async (body) => {
      asked.push(body);
      return { ...view(true, 'config'), dry_run: body.dry_run };
    },
  });
  t.after(() => server.stop());
  const post = (token: string, payload: unknown) =>
    app.inject({
      method: 'POST',
      url: '/api/v1/policies/resume_on_idle/dry-run',
      headers: bearer(token),
      payload: payload as object,
    });
  assert.equal((await post(TOKENS.operator, { dry_run: true })).statusCode, 403);
  const bad = await post(TOKENS.admin, { dry_run: 'yes' });
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'VALIDATION_FAILED');
  assert.equal(asked.length, 0);
  const done = await post(TOKENS.admin, { dry_run: true });
  assert.equal(done.statusCode, 200);
  assert.equal(done.json().data.dry_run, true);
  assert.deepEqual(asked, [{ name: 'resume_on_idle', dry_run: true, by: 'server.auth_token' }]);
  const audit = await app.inject({ method: 'GET', url: '/api/v1/audit', headers: bearer(TOKENS.admin) });
  const records = (audit.json().data as Array<{ action: string; params: Record<string, unknown> }>).filter(
    (r) => r.action.startsWith('policy.'),
  );
  assert.deepEqual(
    records.map((r) => [r.action, r.params]),
    [
      ['policy.dry_run', { dry_run: true }],
      ['policy.dry_run', { dry_run: 'yes' }],
      ['policy.dry_run', { remote: '127.0.0.1', reason: 'role', method: 'POST' }],
    ],
  );
});

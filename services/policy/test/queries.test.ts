import assert from 'node:assert/strict';
import { test } from 'node:test';
import { request } from '@hal/bus';
import { HalError, PolicyQuery, policyQuerySchemas, subjects } from '@hal/protocol';
import { config, emit, FakeClock, fakeAgent, settled, startBus, startPolicy } from './policy-harness.ts';

test('policy queries - list shows each policy with its config and recent actions; disable persists and wins', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const cfg = config({ policies: { resume_on_idle: { enabled: true, idle_threshold_seconds: 1 } } });
  const svc = await startPolicy(t, bus, cfg, clock);
  const list = () =>
    request(bus.nc, subjects.policyQuery(PolicyQuery.LIST), {}, policyQuerySchemas.list.response);
  const ask = (q: 'enable' | 'disable', body: unknown) =>
    request(bus.nc, subjects.policyQuery(q), body, policyQuerySchemas[q].response);

  await emit(bus, { type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(2000);
  await svc.tick();

  const listed = await list();
  assert.deepEqual(
    listed.policies.map((p) => [p.name, p.enabled, p.enabled_source]),
    [
      ['resume_on_idle', true, 'config'],
      ['restart_on_compaction', false, 'config'],
      ['kill_on_cost', false, 'config'],
      ['resume_after_limit', false, 'config'],
      ['error_loop', true, 'config'],
      ['escalate_waiting_input', true, 'config'],
      ['node_offline', true, 'config'],
      ['provision_on_connect', true, 'config'],
      ['start_dependents', false, 'config'],
    ],
  );
  const idle = listed.policies[0];
  assert.equal(idle?.config.idle_threshold_seconds, 1);
  assert.deepEqual(
    idle?.recent_actions.map((a) => [a.decision, a.session, a.node]),
    [['acted', 's1', 'node-a']],
  );

  const disabled = await ask(PolicyQuery.DISABLE, { name: 'resume_on_idle', by: 'admin' });
  assert.equal(disabled.enabled, false);
  assert.equal(disabled.enabled_source, 'override');

  // A restarted service (or a second instance) follows the override, not the config.
  await svc.stop();
  const again = await startPolicy(t, bus, cfg, clock);
  await emit(bus, { session: 's2', type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(2000);
  await again.tick();
  assert.equal(agent.commands.length, 1, 'a disabled policy does not act');
  const relisted = await list();
  assert.equal(relisted.policies[0]?.enabled, false);

  await ask(PolicyQuery.ENABLE, { name: 'resume_on_idle' });
  await again.tick();
  assert.equal(agent.commands.length, 2);

  await assert.rejects(ask(PolicyQuery.ENABLE, { name: 'sleep_on_idle' }), (err: unknown) => {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, 'NOT_FOUND');
    assert.match(err.message, /^no policy "sleep_on_idle"; policies are: resume_on_idle, /);
    return true;
  });
  await assert.rejects(ask(PolicyQuery.DISABLE, {}), (err: unknown) => {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, 'VALIDATION_FAILED');
    return true;
  });
});

test('policy queries - dry run turned on at run time: the policy decides and records, acts on nothing; off again it acts', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const cfg = config({ policies: { resume_on_idle: { enabled: true, idle_threshold_seconds: 1 } } });
  const svc = await startPolicy(t, bus, cfg, clock);
  const dryRun = (body: unknown) =>
    request(bus.nc, subjects.policyQuery(PolicyQuery.DRY_RUN), body, policyQuerySchemas.dry_run.response);

  const on = await dryRun({ name: 'resume_on_idle', dry_run: true, by: 'ada' });
  assert.equal(on.dry_run, true);
  // Dry run does not count as an enable/disable override.
  assert.equal(on.enabled, true);
  assert.equal(on.enabled_source, 'config');
  await emit(bus, { type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(2000);
  await svc.tick();
  assert.equal(agent.commands.length, 0, 'dry run sends no command');
  const listed = await request(
    bus.nc,
    subjects.policyQuery(PolicyQuery.LIST),
    {},
    policyQuerySchemas.list.response,
  );
  const idle = listed.policies.find((p) => p.name === 'resume_on_idle');
  assert.equal(idle?.dry_run, true);
  assert.equal(idle?.recent_actions[0]?.decision, 'dry_run');

  // A disable keeps the dry-run change, and the reverse.
  const disabled = await request(
    bus.nc,
    subjects.policyQuery(PolicyQuery.DISABLE),
    { name: 'resume_on_idle' },
    policyQuerySchemas.disable.response,
  );
  assert.deepEqual([disabled.enabled, disabled.dry_run], [false, true]);
  await request(
    bus.nc,
    subjects.policyQuery(PolicyQuery.ENABLE),
    { name: 'resume_on_idle' },
    policyQuerySchemas.enable.response,
  );
  const off = await dryRun({ name: 'resume_on_idle', dry_run: false });
  assert.deepEqual([off.enabled, off.dry_run], [true, false]);
  await emit(bus, { session: 's2', type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(2000);
  await svc.tick();
  assert.ok(agent.commands.length >= 1, 'acting again');

  await assert.rejects(dryRun({ name: 'resume_on_idle' }), (err: unknown) => {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, 'VALIDATION_FAILED');
    return true;
  });
});

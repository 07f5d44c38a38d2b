import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@hal/testkit';
import {
  config,
  emit,
  FakeClock,
  failingReply,
  fakeAgent,
  notifications,
  policyActions,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

const idleConfig = (extra: Record<string, unknown> = {}) =>
  config({
    policies: {
      resume_on_idle: {
        enabled: true,
        idle_threshold_seconds: 1,
        max_retries: 2,
        retry_reset_seconds: 3600,
        cooldown_seconds: 0,
        prompt: 'Keep going.',
        ...extra,
      },
    },
  });

async function goIdle(bus: Parameters<typeof emit>[0], clock: FakeClock, session = 's1') {
  await emit(bus, { session, type: 'session.busy', time: clock.iso() });
  await emit(bus, { session, type: 'session.idle', time: clock.iso() });
  await settled(bus);
}

test('resume_on_idle - resumes once per idle period, caps at max_retries, one alert at the cap', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const svc = await startPolicy(t, bus, idleConfig(), clock);

  await goIdle(bus, clock);
  clock.advance(500);
  await svc.tick();
  assert.equal(agent.commands.length, 0, 'not idle long enough yet');

  clock.advance(1000);
  await svc.tick();
  await svc.tick();
  await svc.tick();
  assert.equal(agent.commands.length, 1, 'one resume for one idle period, however many ticks');
  assert.deepEqual(agent.commands[0], {
    command: { type: 'resume', session: 's1', prompt: 'Keep going.' },
    actor: { kind: 'policy', id: 'resume_on_idle' },
  });

  // The resume worked, the session ran and stopped again: a new idle period.
  await goIdle(bus, clock);
  clock.advance(1500);
  await svc.tick();
  await svc.tick();
  assert.equal(agent.commands.length, 2);

  // Third idle period: the cap (2 within an hour) holds, and people hear it once.
  await goIdle(bus, clock);
  clock.advance(1500);
  await svc.tick();
  await svc.tick();
  await goIdle(bus, clock);
  clock.advance(1500);
  await svc.tick();
  assert.equal(agent.commands.length, 2, 'blocked at the cap');

  const actions = await policyActions(bus, 'resume_on_idle');
  assert.deepEqual(
    actions.map((a) => a.decision),
    ['acted', 'acted', 'skipped'],
  );
  assert.equal(actions[0]?.node, 'node-a');
  assert.equal(actions[0]?.session, 's1');
  assert.match(actions[0]?.reason ?? '', /^idle for 2 s \(threshold 1 s\)$/);
  assert.equal(actions[2]?.alert, 'Session keeps stopping');
  assert.equal(actions[2]?.severity, 'critical');
  assert.match(actions[2]?.reason ?? '', /^retry cap reached: 2 resumes within 3600 s; blocked until /);

  await settled(bus);
  const alerts = await waitFor(async () => {
    const ns = (await notifications(bus)).filter((n) => n.kind === 'policy.resume_on_idle');
    return ns.length > 0 ? ns : undefined;
  });
  assert.equal(alerts.length, 1);
  assert.equal(alerts[0]?.title, 'Session keeps stopping');
  assert.equal(alerts[0]?.subject, 'hal.notify.discord.alerts');
  assert.deepEqual(
    alerts[0]?.actions.map((a) => a.command.path),
    ['/api/v1/sessions/s1/resume', '/api/v1/sessions/s1/restart', '/api/v1/sessions/s1/kill'],
  );

  // After the reset window the session may be resumed again.
  clock.advance(3600_000);
  await svc.tick();
  assert.equal(agent.commands.length, 3);
});

test('resume_on_idle - a resume that keeps failing is tried exactly max_retries times, then blocked with one alert', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a', failingReply);
  const svc = await startPolicy(t, bus, idleConfig(), clock);

  await goIdle(bus, clock);
  clock.advance(1500);
  for (let i = 0; i < 5; i++) await svc.tick();
  assert.equal(agent.commands.length, 2);

  const actions = await policyActions(bus, 'resume_on_idle');
  assert.deepEqual(
    actions.map((a) => a.decision),
    ['failed', 'failed', 'skipped'],
  );
  assert.match(actions[0]?.reason ?? '', /the command failed: OPENCODE_ERROR$/);
  assert.equal(actions.filter((a) => a.alert === 'Session keeps stopping').length, 1);

  clock.advance(3600_000);
  await svc.tick();
  assert.equal(agent.commands.length, 3, 'tried again once the reset window passed');
});

test('resume_on_idle - not while waiting for input nor on an offline node', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const svc = await startPolicy(t, bus, idleConfig(), clock);

  await emit(bus, {
    session: 'waiting',
    type: 'permission.asked',
    time: clock.iso(),
    data: { permission_id: 'p1', permission: 'bash' },
  });
  await goIdle(bus, clock, 'waiting');
  await emit(bus, { session: 'away', node: 'node-b', type: 'session.idle', time: clock.iso() });
  await emit(bus, {
    session: null,
    node: 'node-b',
    project: '',
    type: 'node.offline',
    time: clock.iso(),
    data: { reason: 'heartbeat_timeout' },
  });
  await settled(bus);
  clock.advance(5000);
  await svc.tick();
  assert.equal(agent.commands.length, 0);
});

test('resume_on_idle - dry_run acts on nothing and records what it would have done, once', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const svc = await startPolicy(t, bus, idleConfig({ dry_run: true }), clock);

  await goIdle(bus, clock);
  clock.advance(1500);
  await svc.tick();
  await svc.tick();
  assert.equal(agent.commands.length, 0);
  const actions = await policyActions(bus, 'resume_on_idle');
  assert.equal(actions.length, 1);
  assert.equal(actions[0]?.decision, 'dry_run');
  assert.equal(actions[0]?.reason, 'would have: resume the session: idle for 2 s (threshold 1 s)');
  assert.deepEqual(actions[0]?.command, { type: 'resume', session: 's1', prompt: 'Keep going.' });
});

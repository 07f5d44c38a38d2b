import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  auditRecords,
  config,
  emit,
  FakeClock,
  fakeAgent,
  fakeTracker,
  policyActions,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

test('policy - two instances on one stream act once per session', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const cfg = config({
    policies: {
      resume_on_idle: { enabled: true, idle_threshold_seconds: 1, max_retries: 5, cooldown_seconds: 0 },
    },
  });
  const a = await startPolicy(t, bus, cfg, clock);
  const b = await startPolicy(t, bus, cfg, clock);

  const sessions = ['s1', 's2', 's3', 's4', 's5', 's6'];
  for (const session of sessions) {
    await emit(bus, { session, type: 'session.busy', time: clock.iso() });
    await emit(bus, { session, type: 'session.idle', time: clock.iso() });
  }
  await settled(bus);
  clock.advance(2000);
  await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
  await Promise.all([a.tick(), b.tick()]);

  const resumed = agent.commands.map((c) => ('session' in c.command ? c.command.session : '')).sort();
  assert.deepEqual(resumed, sessions);
  const acted = (await policyActions(bus, 'resume_on_idle')).filter((x) => x.decision === 'acted');
  assert.equal(acted.length, sessions.length);
});

test('restart_on_compaction - compaction twice gives one restart with a hand-off prompt, and never loops', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const tracker = fakeTracker(bus, [
    { role: 'user', text: 'Write the parser' },
    { role: 'assistant', text: 'The lexer is done; the parser is half-way.' },
  ]);
  t.after(() => tracker.stop());
  const agent = fakeAgent(bus, 'node-a', (cmd) =>
    cmd.type === 'restart' ? { session: 's1-next', previous_session: cmd.session, project: 'proj' } : {},
  );
  const svc = await startPolicy(
    t,
    bus,
    config({
      policies: {
        restart_on_compaction: { enabled: true, compactions: 2, handoff_prompt: 'Take over from here.' },
      },
    }),
    clock,
  );

  await emit(bus, {
    type: 'message.part',
    time: clock.iso(),
    data: { message_id: 'm1', part_id: 'p1', role: 'user', part_type: 'text', text: 'Write the parser' },
  });
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await settled(bus);
  assert.equal(agent.commands.length, 0, 'one compaction is below the limit');
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await settled(bus);
  assert.equal(agent.commands.length, 1);
  const restart = agent.commands[0]?.command;
  assert.equal(restart?.type, 'restart');
  assert.equal(restart?.type === 'restart' ? restart.session : '', 's1');
  // The policy sends only its part of the hand-off; the agent builds the prompt around it.
  assert.deepEqual(restart?.type === 'restart' ? restart.handoff : undefined, {
    intro: 'Take over from here.',
    last_messages: ['user: Write the parser', 'assistant: The lexer is done; the parser is half-way.'],
    task: 'Write the parser',
  });
  assert.equal(restart?.type === 'restart' ? restart.prompt : 'x', undefined);
  assert.deepEqual(tracker.asked, ['s1']);

  // The old session compacts again (it was still winding down): no second restart.
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  // The new session starts with its own counters: one compaction does nothing.
  await emit(bus, { session: 's1-next', type: 'session.compacted', time: clock.iso() });
  // The old session, aborted by the restart, goes idle: nothing resumes it.
  await emit(bus, { type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(3600_000);
  await svc.tick();
  assert.equal(agent.commands.length, 1);

  const actions = await policyActions(bus, 'restart_on_compaction');
  assert.deepEqual(
    actions.map((a) => [a.session, a.decision]),
    [
      ['s1', 'acted'],
      ['s1', 'skipped'],
    ],
  );
  assert.equal(actions[1]?.reason, 'already restarted as s1-next; 3 compactions (limit 2)');
  const audits = (await auditRecords(bus)).filter((r) => r.actor.id === 'restart_on_compaction');
  assert.deepEqual(
    audits.map((r) => [r.actor.kind, r.action]),
    [
      ['policy', 'policy.acted'],
      ['policy', 'policy.skipped'],
    ],
  );
});

test('kill_on_cost - a budget exceeded gives a warning then an abort, each once', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a', () => ({ aborted: true }));
  const svc = await startPolicy(t, bus, config({ policies: { kill_on_cost: { enabled: true } } }), clock);

  await emit(bus, { session: 'spender', project: 'alpha', type: 'session.busy', time: clock.iso() });
  await emit(bus, { session: 'other', project: 'beta', type: 'session.busy', time: clock.iso() });
  await settled(bus);
  const budget = { budget: 'alpha daily', scope: 'project', limit_usd: 1, spent_usd: 1.1 };
  await emit(bus, {
    session: null,
    project: 'alpha',
    type: 'cost.budget_exceeded',
    time: clock.iso(),
    data: budget,
  });
  await emit(bus, {
    session: null,
    project: 'alpha',
    type: 'cost.budget_exceeded',
    time: clock.iso(),
    data: budget,
  });
  await settled(bus);
  await svc.tick();

  assert.deepEqual(
    agent.commands.map((c) => c.command),
    [{ type: 'kill', session: 'spender' }],
  );
  const actions = await policyActions(bus, 'kill_on_cost');
  assert.deepEqual(
    actions.map((a) => [a.decision, a.alert, a.severity]),
    [
      ['acted', 'Session over budget', 'warning'],
      ['acted', 'Session aborted: over budget', 'critical'],
    ],
  );
  assert.equal(actions[0]?.reason, 'cost budget "alpha daily" exceeded; the session will be aborted in 0 s');
});

test('kill_on_cost - cost_threshold_usd on the session cost warns, waits the grace period, then pauses', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a', () => ({ aborted: true }));
  const svc = await startPolicy(
    t,
    bus,
    config({
      policies: {
        kill_on_cost: { enabled: true, cost_threshold_usd: 1, action: 'pause', cooldown_seconds: 60 },
      },
    }),
    clock,
  );
  const completed = (cost: number, id: string) => ({
    message_id: id,
    model: 'gpt',
    provider: 'openai',
    tokens: { input: 10, output: 5 },
    cost_usd: cost,
  });
  await emit(bus, { type: 'message.completed', time: clock.iso(), data: completed(0.6, 'm1') });
  await settled(bus);
  assert.equal((await policyActions(bus, 'kill_on_cost')).length, 0);
  await emit(bus, { type: 'message.completed', time: clock.iso(), data: completed(0.6, 'm2') });
  await settled(bus);
  await svc.tick();
  assert.equal(agent.commands.length, 0, 'still in the grace period');
  clock.advance(61_000);
  await svc.tick();
  await svc.tick();
  assert.deepEqual(
    agent.commands.map((c) => c.command),
    [{ type: 'kill', session: 's1' }],
  );
  const actions = await policyActions(bus, 'kill_on_cost');
  assert.deepEqual(
    actions.map((a) => a.reason),
    [
      'session cost $1.20 reached the threshold $1.00; the session will be paused in 60 s',
      'session cost $1.20 reached the threshold $1.00; pausing the session',
    ],
  );
});

test('resume_after_limit - resumes at the reset time the error gives, not before', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const svc = await startPolicy(
    t,
    bus,
    config({ policies: { resume_after_limit: { enabled: true } } }),
    clock,
  );
  await emit(bus, { type: 'session.busy', time: clock.iso() });
  await emit(bus, {
    type: 'session.error',
    time: clock.iso(),
    data: {
      kind: 'APIError',
      message: 'usage limit reached',
      status_code: 429,
      reset_at: clock.iso(120_000),
    },
  });
  await emit(bus, { type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(60_000);
  await svc.tick();
  assert.equal(agent.commands.length, 0);
  clock.advance(61_000);
  await svc.tick();
  await svc.tick();
  assert.deepEqual(
    agent.commands.map((c) => c.command),
    [{ type: 'resume', session: 's1', prompt: 'The usage limit has reset. Continue with the task.' }],
  );
});

test('error_loop - N errors in the window alert once and stop interventions on the session', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  const svc = await startPolicy(
    t,
    bus,
    config({
      policies: {
        error_loop: { errors: 3, window_seconds: 60 },
        resume_on_idle: { enabled: true, idle_threshold_seconds: 1 },
      },
    }),
    clock,
  );
  for (let i = 0; i < 5; i++) {
    await emit(bus, {
      type: 'session.error',
      time: clock.iso(),
      data: { kind: 'APIError', message: 'boom' },
    });
  }
  await emit(bus, { type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(5000);
  await svc.tick();
  assert.equal(agent.commands.length, 0, 'no resume for a session in an error loop');
  const actions = await policyActions(bus, 'error_loop');
  assert.equal(actions.length, 1);
  assert.equal(actions[0]?.alert, 'Session is in an error loop');
  assert.match(
    actions[0]?.reason ?? '',
    /^3 errors within 60 s \(limit 3\); policies stop intervening until /,
  );
});

test('escalate_waiting_input and node_offline - alert once per waiting or offline period', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const svc = await startPolicy(
    t,
    bus,
    config({
      policies: { escalate_waiting_input: { after_seconds: 30 }, node_offline: { after_seconds: 60 } },
    }),
    clock,
  );
  await emit(bus, {
    type: 'permission.asked',
    time: clock.iso(),
    data: { permission_id: 'perm-1', permission: 'bash', patterns: ['rm -rf build'] },
  });
  await emit(bus, {
    session: null,
    node: 'node-z',
    project: '',
    type: 'node.offline',
    time: clock.iso(),
    data: { reason: 'heartbeat_timeout' },
  });
  await settled(bus);
  clock.advance(45_000);
  await svc.tick();
  clock.advance(30_000);
  await svc.tick();
  await svc.tick();
  const waiting = await policyActions(bus, 'escalate_waiting_input');
  assert.deepEqual(
    waiting.map((a) => a.reason),
    ['waiting for input for 45 s on host node-a (1 pending)'],
  );
  const offline = await policyActions(bus, 'node_offline');
  assert.deepEqual(
    offline.map((a) => [a.node, a.reason]),
    [['node-z', 'node node-z offline for 75 s (threshold 60 s)']],
  );
});

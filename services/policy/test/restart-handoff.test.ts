import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subjects } from '@hal/protocol';
import {
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

// A restart is a hand-off: the agent answers with the hand-off's id, and the new session only
// arrives later in handoff.completed. The decision log and "restarted once, ever" follow it.
test('restart_on_compaction - the new session comes from its hand-off completing; another hand-off and a repeat change nothing', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const tracker = fakeTracker(bus, [{ role: 'user', text: 'Write the parser' }]);
  t.after(() => tracker.stop());
  const agent = fakeAgent(bus, 'node-a', (cmd) =>
    cmd.type === 'restart'
      ? { handoff_id: 'ho_policy', session: cmd.session, project: 'proj', wait_idle_ms: 60_000 }
      : {},
  );
  const svc = await startPolicy(
    t,
    bus,
    config({ policies: { restart_on_compaction: { enabled: true, compactions: 2 } } }),
    clock,
  );
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await settled(bus);
  assert.deepEqual(
    agent.commands.map((c) => c.command.type),
    ['restart'],
  );
  // Before the hand-off completes, a compaction is skipped and says why.
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  // A manual hand-off of the same session is none of this policy's business.
  const other = { handoff_id: 'ho_manual', session: 'elsewhere', went_idle: true, waited_ms: 10 };
  await emit(bus, { type: 'handoff.completed', time: clock.iso(), data: other });
  const done = { handoff_id: 'ho_policy', session: 's1-next', went_idle: true, waited_ms: 1200 };
  const completed = await emit(bus, { type: 'handoff.completed', time: clock.iso(), data: done });
  // The same event again (a resend) is not a second decision.
  await bus.js.publish(subjects.event('node-a', 'proj', 'handoff.completed'), JSON.stringify(completed), {
    msgID: `${completed.id}-resend`,
  });
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await emit(bus, {
    type: 'handoff.failed',
    time: clock.iso(),
    data: { handoff_id: 'ho_manual', stage: 'abort', code: 'OPENCODE_ERROR', message: 'x', aborted: false },
  });
  await settled(bus);
  clock.advance(3600_000);
  await svc.tick();

  assert.equal(agent.commands.length, 1, 'restarted once, ever');
  const actions = await policyActions(bus, 'restart_on_compaction');
  assert.deepEqual(
    actions.map((a) => [a.decision, a.reason]),
    [
      ['acted', '2 compactions (limit 2): restarting through a hand-off'],
      ['skipped', 'already restarted (hand-off ho_policy not completed); 3 compactions (limit 2)'],
      ['acted', 'restarted as s1-next: hand-off ho_policy stopped the session after it went idle'],
      ['skipped', 'already restarted as s1-next; 4 compactions (limit 2)'],
    ],
  );
});

test('restart_on_compaction - a failed hand-off is logged with its stage and not retried', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const tracker = fakeTracker(bus, []);
  t.after(() => tracker.stop());
  const agent = fakeAgent(bus, 'node-a', (cmd) =>
    cmd.type === 'restart'
      ? { handoff_id: 'ho_1', session: cmd.session, project: 'proj', wait_idle_ms: 60_000 }
      : {},
  );
  await startPolicy(
    t,
    bus,
    config({ policies: { restart_on_compaction: { enabled: true, compactions: 1 } } }),
    clock,
  );
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await settled(bus);
  await emit(bus, {
    type: 'handoff.failed',
    time: clock.iso(),
    data: {
      handoff_id: 'ho_1',
      stage: 'update_context',
      code: 'OPENCODE_ERROR',
      message: 'x',
      aborted: false,
    },
  });
  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await settled(bus);
  assert.equal(agent.commands.length, 1);
  const actions = await policyActions(bus, 'restart_on_compaction');
  assert.deepEqual(
    actions.map((a) => [a.decision, a.reason]),
    [
      ['acted', '1 compactions (limit 1): restarting through a hand-off'],
      [
        'skipped',
        'hand-off ho_1 failed at update_context (OPENCODE_ERROR); the session was left running; not retried',
      ],
      ['skipped', 'already restarted (hand-off ho_1 not completed); 2 compactions (limit 1)'],
    ],
  );
});

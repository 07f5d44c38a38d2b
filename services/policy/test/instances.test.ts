import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@hal/testkit';
import {
  config,
  emit,
  FakeClock,
  fakeAgent,
  policyActions,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

const TTL_SEC = 1.5;

const cfg = config({
  instances: { lease_ttl_sec: TTL_SEC },
  policies: {
    resume_on_idle: { enabled: true, idle_threshold_seconds: 1, max_retries: 5, cooldown_seconds: 0 },
  },
});

const resumedSessions = (agent: ReturnType<typeof fakeAgent>) =>
  agent.commands.map((c) => ('session' in c.command ? c.command.session : '')).sort();

test('policy instances - one of two is active; an action is taken once, and once more never after the active one dies', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  t.after(() => agent.stop());
  const a = await startPolicy(t, bus, cfg, clock, { consumerAckWaitMs: 2_000 });
  const b = await startPolicy(t, bus, cfg, clock, { consumerAckWaitMs: 2_000 });
  assert.equal(a.isLeader(), true);
  assert.equal(b.isLeader(), false, 'the second instance stands by');

  for (const session of ['s1', 's2', 's3']) {
    await emit(bus, { session, type: 'session.busy', time: clock.iso() });
    await emit(bus, { session, type: 'session.idle', time: clock.iso() });
  }
  await settled(bus);
  clock.advance(2_000);
  await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
  assert.deepEqual(resumedSessions(agent), ['s1', 's2', 's3']);

  // The active instance dies while a session's events stream in: idle, then busy again. Handled
  // out of order, s5 would end idle and be resumed.
  const s5 = [
    emit(bus, { session: 's5', type: 'session.busy', time: clock.iso() }),
    emit(bus, { session: 's5', type: 'session.idle', time: clock.iso(1) }),
  ];
  await Promise.all(s5);
  const killed = performance.now();
  await a.kill();
  await emit(bus, { session: 's5', type: 'session.busy', time: clock.iso(2) });
  await emit(bus, { session: 's4', type: 'session.busy', time: clock.iso(3) });
  await emit(bus, { session: 's4', type: 'session.idle', time: clock.iso(4) });

  await waitFor(() => b.isLeader(), { timeoutMs: 4 * TTL_SEC * 1000, message: 'b takes over' });
  t.diagnostic(
    `standby active ${Math.round(performance.now() - killed)} ms after the kill (lease ${TTL_SEC} s)`,
  );
  await settled(bus);
  clock.advance(2_000);
  await b.tick();
  await b.tick();
  // s4 resumed once; s1-s3 not again; s5 ended busy, so not at all.
  assert.deepEqual(resumedSessions(agent), ['s1', 's2', 's3', 's4']);
  const acted = (await policyActions(bus, 'resume_on_idle')).filter((x) => x.decision === 'acted');
  assert.deepEqual(acted.map((x) => x.session).sort(), ['s1', 's2', 's3', 's4']);
});

test('policy instances - a clean stop hands over at once, and a restarted instance stands by', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  t.after(() => agent.stop());
  const a = await startPolicy(t, bus, cfg, clock);
  const b = await startPolicy(t, bus, cfg, clock);
  await a.stop();
  await waitFor(() => b.isLeader(), { timeoutMs: TTL_SEC * 1000, message: 'taken over before the TTL' });
  const again = await startPolicy(t, bus, cfg, clock);
  assert.equal(again.isLeader(), false);
  await emit(bus, { session: 's1', type: 'session.busy', time: clock.iso() });
  await emit(bus, { session: 's1', type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(2_000);
  await Promise.all([again.tick(), b.tick()]);
  assert.deepEqual(resumedSessions(agent), ['s1']);
});

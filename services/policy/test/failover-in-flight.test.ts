import assert from 'node:assert/strict';
import { test } from 'node:test';
import { StreamName } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import type { SessionFacts } from '../src/facts.ts';
import { POLICY_CONSUMER } from '../src/index.ts';
import { KeyPrefix, keyOf, openStateStore } from '../src/state-store.ts';
import {
  config,
  emit,
  FakeClock,
  fakeAgent,
  policyActions,
  publishMany,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

const TTL_SEC = 1.5;
const SESSIONS = 40;
/** Rounds of busy → message.completed → compacted → idle per session. */
const ROUNDS = 15;

const cfg = config({
  instances: { lease_ttl_sec: TTL_SEC },
  policies: {
    resume_on_idle: { enabled: true, idle_threshold_seconds: 1, max_retries: 5, cooldown_seconds: 0 },
  },
});

test('policy instances - the active one killed with hundreds of events in flight: the standby handles every session in order, counts each event once and resumes only the idle sessions, once', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const agent = fakeAgent(bus, 'node-a');
  t.after(() => agent.stop());
  const a = await startPolicy(t, bus, cfg, clock);
  const b = await startPolicy(t, bus, cfg, clock);
  assert.equal(a.isLeader(), true);

  // Every session: ROUNDS × (busy, completed with growing tokens, compacted, idle); the even ones
  // end idle, the odd ones busy again. Handled out of order, a session would end in the wrong
  // state or with an older message's context size; handled twice, with too many compactions.
  const sessions = Array.from({ length: SESSIONS }, (_, i) => `s${i}`);
  const events: Array<Parameters<typeof emit>[1]> = [];
  let at = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const session of sessions) {
      const time = () => clock.iso(at++);
      events.push(
        { session, type: 'session.busy', time: time() },
        {
          session,
          type: 'message.completed',
          time: time(),
          data: {
            message_id: `m${round}`,
            model: 'm',
            provider: 'p',
            tokens: { input: round + 1 },
            cost_usd: 0.5,
          },
        },
        { session, type: 'session.compacted', time: time() },
        { session, type: 'session.idle', time: time() },
      );
    }
  }
  sessions.forEach((session, i) => {
    if (i % 2 === 1) events.push({ session, type: 'session.busy', time: clock.iso(at++) });
  });

  const jsm = await jetstreamManager(bus.nc);
  const flood = publishMany(bus, events);
  // Killed while it is partway, with many events delivered and not acked.
  let inFlightAtKill = 0;
  await waitFor(
    async () => {
      const c = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
      inFlightAtKill = c.num_ack_pending;
      return c.ack_floor.stream_seq > 200 && c.num_ack_pending >= 50;
    },
    { timeoutMs: 20_000, intervalMs: 5, message: 'the active instance is partway, with events in flight' },
  );
  await a.kill();
  t.diagnostic(`killed with ${inFlightAtKill} events in flight`);
  await flood;
  await waitFor(() => b.isLeader(), { timeoutMs: 4 * TTL_SEC * 1000, message: 'b takes over' });
  await settled(bus);

  const store = await openStateStore(bus.nc);
  for (const [i, session] of sessions.entries()) {
    const facts = (await store.get<SessionFacts>(keyOf(KeyPrefix.SESSION, session)))?.value;
    assert.ok(facts, `${session} has facts`);
    assert.equal(facts.state, i % 2 === 0 ? 'idle' : 'running', `${session} ends in its last event's state`);
    assert.equal(facts.compactions, ROUNDS, `${session}: every compaction counted once`);
    assert.equal(facts.cost_usd, ROUNDS * 0.5, `${session}: every message's cost counted once`);
    assert.equal(facts.context_tokens, ROUNDS, `${session}: the newest message's context size`);
  }

  // Past the threshold for the last idle event too (event times run ahead of the clock by `at` ms).
  clock.advance(at + 2_000);
  await b.tick();
  await b.tick();
  const idle = sessions.filter((_, i) => i % 2 === 0).sort();
  const resumed = agent.commands.map((c) => ('session' in c.command ? c.command.session : '')).sort();
  assert.deepEqual(resumed, idle, 'each idle session resumed once, no busy one');
  const acted = (await policyActions(bus, 'resume_on_idle')).filter((x) => x.decision === 'acted');
  assert.deepEqual(acted.map((x) => x.session).sort(), idle);
});

test('policy instances - the active one killed after sending a resume and before its answer: the standby settles it under the same idempotency key, so the session is resumed once and the action recorded once', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  let release: () => void = () => undefined;
  const answered = new Promise<void>((resolve) => {
    release = resolve;
  });
  const agent = fakeAgent(bus, 'node-a', async (cmd) => {
    await answered;
    return { session: 'session' in cmd ? cmd.session : null, resumed: true };
  });
  t.after(() => agent.stop());
  const a = await startPolicy(t, bus, cfg, clock);
  const b = await startPolicy(t, bus, cfg, clock);
  assert.equal(a.isLeader(), true);

  await emit(bus, { session: 's1', type: 'session.busy', time: clock.iso(0) });
  await emit(bus, { session: 's1', type: 'session.idle', time: clock.iso(1) });
  await settled(bus);
  clock.advance(2_000);
  // The resume is sent and the agent runs it, but the answer comes only after a is gone (or the
  // test fails: released either way, or a's stop would wait for its tick for ever).
  try {
    void a.tick();
    await waitFor(() => agent.commands.length === 1, { message: 'a sent the resume' });
    await a.kill();

    await waitFor(() => b.isLeader(), { timeoutMs: 4 * TTL_SEC * 1000, message: 'b takes over' });
    await waitFor(() => agent.repeats.length === 1, { message: 'b sent the undecided resume again' });
  } finally {
    release();
  }
  await waitFor(async () => (await policyActions(bus, 'resume_on_idle')).length > 0, {
    message: 'the resume is recorded',
  });
  await b.tick();
  await settled(bus);

  assert.equal(agent.commands.length, 1, 'the agent ran the resume once');
  assert.equal(agent.repeats[0], agent.keys[0], 'the repeat carried the first send’s key');
  const actions = await policyActions(bus, 'resume_on_idle');
  assert.deepEqual(
    actions.map((x) => [x.session, x.decision]),
    [['s1', 'acted']],
    'one acted record, from b',
  );
  const store = await openStateStore(bus.nc);
  assert.deepEqual(await store.keys(KeyPrefix.INTENT), [], 'no command left unsettled');
});

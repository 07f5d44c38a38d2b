import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SessionFacts } from '../src/facts.ts';
import { KeyPrefix, keyOf, openStateStore } from '../src/state-store.ts';
import {
  config,
  type emit,
  FakeClock,
  publishMany,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

const SESSIONS = 4;
const ROUNDS = 60;

test('policy batches - a backlog of a session is handled with a facts write per batch, not per event, and ends in the same facts', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const cfg = config({});
  // The consumer is made on the first start; the backlog then waits for the second.
  const first = await startPolicy(t, bus, cfg, clock);
  await first.stop();

  const sessions = Array.from({ length: SESSIONS }, (_, i) => `b${i}`);
  const events: Array<Parameters<typeof emit>[1]> = [];
  let at = 0;
  for (let round = 0; round < ROUNDS; round++) {
    for (const session of sessions) {
      const time = () => clock.iso(at++);
      events.push(
        { session, type: 'session.busy', time: time() },
        {
          session,
          type: 'message.part',
          time: time(),
          data: {
            message_id: `m${round}`,
            part_id: `p${round}`,
            role: 'assistant',
            part_type: 'text',
            text: `t${round}`,
          },
        },
        // A rule reads this one (kill_on_cost): the facts before it are written first.
        {
          session,
          type: 'message.completed',
          time: time(),
          data: {
            message_id: `m${round}`,
            model: 'm',
            provider: 'p',
            tokens: { input: round + 1 },
            cost_usd: 0.25,
          },
        },
        { session, type: 'session.idle', time: time() },
      );
    }
  }
  await publishMany(bus, events);

  // Every write of a session's facts, as the bucket's stream receives it.
  let factWrites = 0;
  const sub = bus.nc.subscribe('$KV.HAL_POLICY.sess.>', { callback: () => void factWrites++ });
  t.after(() => sub.unsubscribe());
  await bus.nc.flush();
  await startPolicy(t, bus, cfg, clock);
  await settled(bus);
  await bus.nc.flush();

  const store = await openStateStore(bus.nc);
  for (const session of sessions) {
    const facts = (await store.get<SessionFacts>(keyOf(KeyPrefix.SESSION, session)))?.value;
    assert.ok(facts, `${session} has facts`);
    assert.equal(facts.state, 'idle', `${session} ends in its last event's state`);
    assert.equal(facts.cost_usd, ROUNDS * 0.25, `${session}: every message's cost counted once`);
    assert.equal(facts.context_tokens, ROUNDS, `${session}: the newest message's context size`);
    assert.deepEqual(facts.last_texts, [`t${ROUNDS - 3}`, `t${ROUNDS - 2}`, `t${ROUNDS - 1}`]);
  }
  // One event a write would be ROUNDS × 4 per session; a rule's event forces a write of what came
  // before it, so at least 2 a round remain (before message.completed, and what follows it).
  const perEvent = events.length;
  t.diagnostic(`${factWrites} facts writes for ${perEvent} events`);
  assert.ok(factWrites > 0);
  assert.ok(factWrites <= perEvent * 0.75, `${factWrites} facts writes for ${perEvent} events`);
});

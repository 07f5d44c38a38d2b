import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type TestContext, test } from 'node:test';
import { ensureStreams } from '@hal/bus';
import { type EventRecord, StreamName, subjects } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import {
  type Bus,
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

/**
 * What JetStream stores when an agent resends an event after the duplicate window: the same
 * record as a second message (no Nats-Msg-Id dedup is left to catch it).
 */
async function resend(bus: Bus, event: EventRecord): Promise<void> {
  await bus.js.publish(subjects.event(event.node, event.project, event.type), JSON.stringify(event));
}

/** A webhook receiver: the notification id of each delivery, in order. */
async function startWebhook(t: TestContext): Promise<{ hooks: string[]; hookUrl: string }> {
  const hooks: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      hooks.push(String(req.headers['x-hal-notification-id']));
      res.end('ok');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => new Promise<void>((r) => server.close(() => r())));
  return { hooks, hookUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook` };
}

test('policy resend - an event stored twice (past the duplicate window) is counted, notified and acted on once', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  clock.t = Date.now();
  const { hooks, hookUrl } = await startWebhook(t);
  const tracker = fakeTracker(bus, []);
  t.after(() => tracker.stop());
  const agent = fakeAgent(bus, 'node-a', () => ({
    session: 's1-next',
    previous_session: 's1',
    project: 'proj',
  }));
  t.after(() => agent.stop());
  await startPolicy(
    t,
    bus,
    config({
      policies: { restart_on_compaction: { enabled: true, compactions: 2 } },
      routes: [{ match: 'session.error', target: 'webhook#ops' }],
      webhooks: { ops: { url: hookUrl } },
    }),
    clock,
  );

  const compacted = await emit(bus, { type: 'session.compacted', time: clock.iso() });
  const error = await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
  await settled(bus);
  await waitFor(() => hooks.length === 1, { message: 'the error is notified' });
  await resend(bus, compacted);
  await resend(bus, error);
  await settled(bus);
  assert.equal(agent.commands.length, 0, 'one compaction, resent, is still one: no restart');
  assert.equal(hooks.length, 1, 'the resent error is not notified again');

  await emit(bus, { type: 'session.compacted', time: clock.iso() });
  await settled(bus);
  assert.equal(agent.commands.length, 1, 'the second real compaction restarts the session');
  const actions = await policyActions(bus, 'restart_on_compaction');
  assert.deepEqual(
    actions.map((a) => a.decision),
    ['acted'],
  );
});

test('policy resend - HAL_EVENTS deleted and made anew: its events (seqs from 1 again) are not mistaken for replays', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  clock.t = Date.now();
  const { hooks, hookUrl } = await startWebhook(t);
  const cfg = config({
    routes: [{ match: 'session.error', target: 'webhook#ops' }],
    webhooks: { ops: { url: hookUrl } },
  });
  const first = await startPolicy(t, bus, cfg, clock);
  for (let i = 0; i < 5; i++) {
    await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
    await settled(bus);
    clock.advance(10 * 60_000); // past the collapse window: each is its own notification
  }
  await waitFor(() => hooks.length === 5, { message: 'the five errors are notified' });
  await first.stop();

  // What an operator does to move the stream to other storage: delete it, let it be made again.
  const jsm = await jetstreamManager(bus.nc);
  await jsm.streams.delete(StreamName.EVENTS);
  await ensureStreams(bus.nc);
  await startPolicy(t, bus, cfg, clock);
  await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
  await settled(bus);
  await waitFor(() => hooks.length === 6, {
    message: 'the error stored as seq 1 of the new stream is notified (the facts held seq 5 of the old one)',
  });
  clock.advance(10 * 60_000);
  await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
  await settled(bus);
  await waitFor(() => hooks.length === 7, { message: 'and the next one' });
});

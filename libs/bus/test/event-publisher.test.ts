import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus, isPermanentPublishError, publishEvent, toBusError } from '@hal/bus';
import { ErrorCode, type EventRecord, StreamName } from '@hal/protocol';
import { startNats } from '@hal/testkit';
import { JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import pino from 'pino';

const log = pino({ level: 'silent' });

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const server = await startNats();
  const nc = await connectBus({ url: server.url, name: 'event-publisher-test', log });
  t.after(async () => {
    await nc.close();
    await server.stop();
  });
  return { nc };
}

function event(seq: number, text = ''): EventRecord {
  return {
    version: 1,
    id: crypto.randomUUID(),
    seq,
    node: 'host.a',
    project: 'web',
    session: 's1',
    type: 'message.part',
    time: new Date().toISOString(),
    data: { text },
  };
}

const failure = (p: Promise<unknown>): Promise<unknown> =>
  p.then(
    () => assert.fail('the publish should have failed'),
    (err: unknown) => err,
  );

test('bus - publishEvent: 3,000 publishes in flight on one connection are each acked once, in a stream holding all', async (t) => {
  const { nc } = await setup(t);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: StreamName.EVENTS, subjects: ['hal.evt.>'] });
  const js = jetstream(nc);
  const events = Array.from({ length: 3_000 }, (_, i) => event(i));
  const acks = await Promise.all(events.map((e) => publishEvent(js, e)));
  assert.equal(new Set(acks.map((a) => a.seq)).size, 3_000, 'one stream seq per event');
  assert.ok(acks.every((a) => a.stream === StreamName.EVENTS && a.duplicate === false));
  // A resend of the same ids (an agent's spool after a reconnect) is acked as duplicates.
  const again = await Promise.all(events.slice(0, 10).map((e) => publishEvent(js, e)));
  assert.deepEqual(
    again.map((a) => [a.seq, a.duplicate]),
    acks.slice(0, 10).map((a) => [a.seq, true]),
  );
  assert.equal((await jsm.streams.info(StreamName.EVENTS)).state.messages, 3_000);
});

test('bus - publishEvent: the server refusing the message is a permanent JetStream API error; the next event still goes', async (t) => {
  const { nc } = await setup(t);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: StreamName.EVENTS, subjects: ['hal.evt.>'], max_msg_size: 512 });
  const js = jetstream(nc);
  const [big, small] = await Promise.allSettled([
    publishEvent(js, event(1, 'x'.repeat(1_000))),
    publishEvent(js, event(2)),
  ]);
  assert.equal(big.status, 'rejected');
  const err = big.status === 'rejected' ? big.reason : undefined;
  assert.ok(err instanceof JetStreamApiError);
  assert.equal(err.code, 10054);
  assert.equal(isPermanentPublishError(err), true);
  assert.equal(small.status, 'fulfilled');
});

test('bus - publishEvent: no stream is no responders, and no answer is a timeout; both transient, with their codes', async (t) => {
  const { nc } = await setup(t);
  const noStream = await failure(publishEvent(jetstream(nc), event(1)));
  assert.equal(isPermanentPublishError(noStream), false);
  assert.equal(toBusError(noStream, StreamName.EVENTS).code, ErrorCode.NO_RESPONDERS);
  // Something listens on the subject and never answers (a stream that lost its leader looks so).
  const silent = nc.subscribe('hal.evt.>');
  const timedOut = await failure(publishEvent(jetstream(nc, { timeout: 300 }), event(2)));
  assert.equal(isPermanentPublishError(timedOut), false);
  assert.equal(toBusError(timedOut, StreamName.EVENTS).code, ErrorCode.TIMEOUT);
  silent.unsubscribe();
});

test('bus - publishEvent: publishes waiting when the connection closes are rejected, and later ones reject, never throw', async (t) => {
  const { nc } = await setup(t);
  nc.subscribe('hal.evt.>'); // never answers: the publishes stay pending
  const js = jetstream(nc);
  const pending = failure(publishEvent(js, event(1)));
  await nc.close();
  assert.ok((await pending) instanceof Error);
  assert.ok((await failure(publishEvent(js, event(2)))) instanceof Error);
});

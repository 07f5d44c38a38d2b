import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus, ensureStreams, jetstreamClient, publishEvent, request, serve } from '@hal/bus';
import { ErrorCode, HalError, StreamName } from '@hal/protocol';
import { startNats } from '@hal/testkit';
import { jetstreamManager } from '@nats-io/jetstream';
import pino from 'pino';
import { z } from 'zod';

const log = pino({ level: 'silent' });

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const server = await startNats();
  const nc = await connectBus({ url: server.url, name: 'bus-test', log });
  t.after(async () => {
    await nc.close();
    await server.stop();
  });
  return { server, nc };
}

function rejectsWith(code: string) {
  return (err: unknown) => err instanceof HalError && err.code === code;
}

test('bus - ensureStreams is idempotent and survives concurrent callers', async (t) => {
  const { nc } = await setup(t);
  await Promise.all([ensureStreams(nc), ensureStreams(nc), ensureStreams(nc)]);
  await ensureStreams(nc, { eventsMaxAgeDays: 7 });
  const jsm = await jetstreamManager(nc);
  const info = await jsm.streams.info(StreamName.EVENTS);
  assert.deepEqual(info.config.subjects, ['hal.evt.>']);
  assert.equal(info.config.max_age, 7 * 24 * 3600 * 1e9, 'a call with limits applies them');
  // A service that only needs the streams must not reset the configured retention.
  await ensureStreams(nc);
  const kept = await jsm.streams.info(StreamName.EVENTS);
  assert.equal(kept.config.max_age, 7 * 24 * 3600 * 1e9, 'a call without limits keeps them');
  assert.equal(info.config.duplicate_window, 120 * 1e9);
  for (const name of Object.values(StreamName))
    assert.equal((await jsm.streams.info(name)).config.name, name);
});

test('bus - publishEvent stores a resent event once', async (t) => {
  const { nc } = await setup(t);
  await ensureStreams(nc);
  const js = jetstreamClient(nc);
  const event = {
    version: 1 as const,
    id: crypto.randomUUID(),
    seq: 1,
    node: 'host.a',
    project: 'web',
    session: 's1',
    type: 'session.idle',
    time: new Date().toISOString(),
    data: {},
  };
  const first = await publishEvent(js, event);
  const again = await publishEvent(js, event);
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.equal(again.seq, first.seq);
  const jsm = await jetstreamManager(nc);
  assert.equal((await jsm.streams.info(StreamName.EVENTS)).state.messages, 1);
});

test('bus - request/reply returns typed data and typed errors', async (t) => {
  const { nc } = await setup(t);
  const server = serve(nc, {
    subject: 'hal.q.test.echo',
    queue: 'q',
    schema: z.object({ n: z.number() }),
    log,
    handler: async ({ n }) => {
      if (n < 0) throw new HalError(ErrorCode.SESSION_NOT_FOUND, 'session "x" not found');
      if (n === 0) await new Promise((r) => setTimeout(r, 500));
      return { doubled: n * 2 };
    },
  });
  t.after(() => server.stop());
  const data = await request(nc, 'hal.q.test.echo', { n: 21 }, z.object({ doubled: z.number() }));
  assert.deepEqual(data, { doubled: 42 });
  await assert.rejects(request(nc, 'hal.q.test.echo', { n: -1 }, z.unknown()), (err: unknown) => {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, ErrorCode.SESSION_NOT_FOUND);
    assert.equal(err.message, 'session "x" not found');
    return true;
  });
  await assert.rejects(
    request(nc, 'hal.q.test.echo', { n: 'x' }, z.unknown()),
    (err: unknown) => err instanceof HalError && err.code === 'VALIDATION_FAILED' && /n: /.test(err.message),
  );
  await assert.rejects(
    request(nc, 'hal.q.test.echo', { n: 0 }, z.unknown(), { timeoutMs: 100 }),
    rejectsWith(ErrorCode.TIMEOUT),
  );
  await assert.rejects(
    request(nc, 'hal.q.test.nobody', {}, z.unknown()),
    rejectsWith(ErrorCode.NO_RESPONDERS),
  );
  // A reply that does not match the expected shape is an error, not a silently wrong value.
  await assert.rejects(
    request(nc, 'hal.q.test.echo', { n: 1 }, z.object({ tripled: z.number() })),
    rejectsWith(ErrorCode.INTERNAL),
  );
});

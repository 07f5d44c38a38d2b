import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  connectBus,
  isPermanentPublishError,
  openSessionOwners,
  PermanentJetStreamCodes,
  request,
  serve,
  TransientJetStreamCodes,
} from '@hal/bus';
import { ErrorCode, HalError } from '@hal/protocol';
import { startNats } from '@hal/testkit';
import { JetStreamApiError, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { errors as coreErrors } from '@nats-io/nats-core';
import pino from 'pino';
import { z } from 'zod';

const log = pino({ level: 'silent' });

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const server = await startNats();
  const nc = await connectBus({ url: server.url, name: 'bus-hardening-test', log });
  t.after(async () => {
    await nc.close();
    await server.stop();
  });
  return { server, nc };
}

const apiError = (err_code: number, code: number, description: string) =>
  new JetStreamApiError({ err_code, code, description });

test('bus - publish errors: only what the message itself caused is permanent', async (t) => {
  const transient: Array<[string, unknown]> = [
    [
      'temporarily unavailable',
      apiError(
        TransientJetStreamCodes.TEMPORARILY_UNAVAILABLE,
        503,
        'JetStream system temporarily unavailable',
      ),
    ],
    [
      'insufficient resources',
      apiError(TransientJetStreamCodes.INSUFFICIENT_RESOURCES, 503, 'insufficient resources'),
    ],
    [
      'leader election',
      apiError(TransientJetStreamCodes.NOT_LEADER, 500, 'JetStream cluster can not handle request'),
    ],
    [
      'account full',
      apiError(
        TransientJetStreamCodes.ACCOUNT_RESOURCES_EXCEEDED,
        400,
        'resource limits exceeded for account',
      ),
    ],
    ['too many requests', apiError(TransientJetStreamCodes.TOO_MANY_REQUESTS, 429, 'too many requests')],
    ['unknown 5xx', apiError(19999, 503, 'something new and temporary')],
    ['timeout', new coreErrors.TimeoutError()],
    ['no responders', new coreErrors.NoRespondersError('hal.evt.x')],
    ['closed', new coreErrors.ClosedConnectionError()],
  ];
  for (const [name, err] of transient) assert.equal(isPermanentPublishError(err), false, name);
  const permanent: Array<[string, unknown]> = [
    [
      'message too big',
      apiError(PermanentJetStreamCodes.MESSAGE_EXCEEDS_MAXIMUM, 400, 'message size exceeds maximum allowed'),
    ],
    [
      'header too big',
      apiError(
        PermanentJetStreamCodes.HEADER_EXCEEDS_MAXIMUM,
        400,
        'header size exceeds maximum allowed of 64k',
      ),
    ],
    ['unknown 4xx', apiError(19998, 400, 'something new about the message')],
    ['max_payload', new coreErrors.InvalidArgumentError('payload: max_payload size exceeded')],
  ];
  for (const [name, err] of permanent) assert.equal(isPermanentPublishError(err), true, name);

  // The same verdict on an error a real nats-server sends: a message over the stream's max_msg_size.
  const { nc } = await setup(t);
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'SMALL', subjects: ['small.>'], max_msg_size: 64 });
  const refused = await jetstream(nc)
    .publish('small.x', 'x'.repeat(200))
    .then(
      () => undefined,
      (err: unknown) => err,
    );
  assert.ok(refused instanceof JetStreamApiError);
  assert.equal(refused.code, PermanentJetStreamCodes.MESSAGE_EXCEEDS_MAXIMUM);
  assert.equal(isPermanentPublishError(refused), true);
});

test('bus - a handler answer that cannot be serialised or sent is an error reply, and the connection stays up', async (t) => {
  const { nc } = await setup(t);
  let deep: Record<string, unknown> = {};
  for (let i = 0; i < 10_000; i++) deep = { a: deep };
  const server = serve(nc, {
    subject: 'hal.q.test.hostile',
    schema: z.object({ what: z.enum(['deep', 'huge', 'fine']) }),
    log,
    handler: async ({ what }) =>
      what === 'deep' ? deep : what === 'huge' ? { blob: 'x'.repeat(2 * 1024 * 1024) } : { fine: true },
  });
  t.after(() => server.stop());
  await assert.rejects(
    request(nc, 'hal.q.test.hostile', { what: 'deep' }, z.unknown(), { timeoutMs: 2_000 }),
    (err: unknown) =>
      err instanceof HalError &&
      err.code === ErrorCode.INTERNAL &&
      /could not be serialised/.test(err.message),
  );
  await assert.rejects(
    request(nc, 'hal.q.test.hostile', { what: 'huge' }, z.unknown(), { timeoutMs: 2_000 }),
    (err: unknown) => err instanceof HalError && err.code === ErrorCode.PAYLOAD_TOO_LARGE,
  );
  assert.deepEqual(await request(nc, 'hal.q.test.hostile', { what: 'fine' }, z.unknown()), { fine: true });
  assert.equal(nc.isClosed(), false);
});

test('bus - session owners: the first claim wins across connections, and the answer is final', async (t) => {
  const { server, nc } = await setup(t);
  const nc2 = await connectBus({ url: server.url, name: 'bus-hardening-test-2', log });
  t.after(() => nc2.close());
  const [gw1, gw2] = await Promise.all([openSessionOwners(nc), openSessionOwners(nc2)]);
  // Two gateways see the same new session at once, reported by different nodes: one owner.
  const sessions = Array.from({ length: 50 }, (_, i) => `ses_${i}.with dots`);
  const results = await Promise.all(
    sessions.flatMap((s) => [gw1.claim(s, 'node-a'), gw2.claim(s, 'node-b')]),
  );
  for (let i = 0; i < sessions.length; i++) {
    assert.equal(results[2 * i], results[2 * i + 1], `one owner for ${sessions[i]}`);
    assert.ok(['node-a', 'node-b'].includes(results[2 * i]!));
  }
  const owner = results[0]!;
  const other = owner === 'node-a' ? 'node-b' : 'node-a';
  assert.equal(await gw1.claim(sessions[0]!, other), owner, 'a later claim gets the first owner');
  assert.equal(gw1.cached(sessions[0]!), owner);
  // A fresh instance (a restarted gateway) reads the recorded owner.
  const gw3 = await openSessionOwners(nc2);
  assert.equal(gw3.cached(sessions[0]!), undefined);
  assert.equal(await gw3.owner(sessions[0]!), owner);
  assert.equal(await gw3.owner('never-reported'), undefined);
  assert.equal(await gw3.claim('never-reported', 'node-c'), 'node-c');
});

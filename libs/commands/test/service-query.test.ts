import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus, type NatsConnection } from '@hal/bus';
import { createLogger } from '@hal/observability';
import { ErrorCode, HalError } from '@hal/protocol';
import { startNats } from '@hal/testkit';
import { z } from 'zod';
import { queryService } from '../src/index.ts';

const log = createLogger({ service: 'service-query-test', level: 'silent' });
const SUBJECT = 'hal.q.test.echo';
const answer = z.object({ n: z.number() });

async function setup(t: { after(fn: () => Promise<void>): void }): Promise<NatsConnection> {
  const server = await startNats({ jetstream: false });
  const nc = await connectBus({ url: server.url, name: 'service-query-test', log });
  t.after(async () => {
    await nc.close();
    await server.stop();
  });
  return nc;
}

/** A responder that leaves the first `silent` requests unanswered, as an instance that died holding them. */
function responder(nc: NatsConnection, silent: number, delayMs = 0): { seen: () => number } {
  let seen = 0;
  nc.subscribe(SUBJECT, {
    callback: (_err, msg) => {
      seen += 1;
      if (seen <= silent) return;
      setTimeout(() => msg.respond(JSON.stringify({ ok: true, data: { n: seen } })), delayMs);
    },
  });
  return { seen: () => seen };
}

const query = (nc: NatsConnection, timeoutMs: number, firstTryMs?: number) =>
  queryService(nc, {
    service: 'the test service',
    family: 'hal.q.test',
    subject: SUBJECT,
    body: {},
    response: answer,
    timeoutMs,
    ...(firstTryMs === undefined ? {} : { firstTryMs }),
  });

test('service query - a request left unanswered (its instance died) is asked again after the first try, well inside the timeout', async (t) => {
  const nc = await setup(t);
  const r = responder(nc, 1);
  const t0 = Date.now();
  const got = await query(nc, 10_000, 300);
  const took = Date.now() - t0;
  assert.deepEqual(got, { n: 2 });
  assert.equal(r.seen(), 2);
  assert.ok(took < 3_000, `answered after ${took} ms`);
});

test('service query - a slow answer past the first try still arrives within the rest of the timeout', async (t) => {
  const nc = await setup(t);
  // Each answer takes 500 ms; the first try gives up at 200 ms, the second waits the rest.
  const r = responder(nc, 0, 500);
  assert.deepEqual(await query(nc, 3_000, 200), { n: 2 });
  assert.equal(r.seen(), 2);
});

test('service query - nothing answering in time is TIMEOUT after the whole timeout, not the first try plus it', async (t) => {
  const nc = await setup(t);
  responder(nc, Number.POSITIVE_INFINITY);
  const t0 = Date.now();
  await assert.rejects(
    query(nc, 1_000, 300),
    (err: unknown) => err instanceof HalError && err.code === ErrorCode.TIMEOUT,
  );
  const took = Date.now() - t0;
  assert.ok(took >= 950 && took < 1_800, `gave up after ${took} ms`);
});

test('service query - no responder at all is UNAVAILABLE at once, without a second try', async (t) => {
  const nc = await setup(t);
  const t0 = Date.now();
  await assert.rejects(
    query(nc, 5_000, 1_000),
    (err: unknown) => err instanceof HalError && err.code === ErrorCode.UNAVAILABLE,
  );
  assert.ok(Date.now() - t0 < 1_000);
});

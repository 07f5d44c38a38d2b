import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { createLogger } from '@hal/observability';
import { ErrorCode, HalError } from '@hal/protocol';
import { z } from 'zod';
import {
  DEFAULT_RETRY,
  fetchAllPages,
  MAX_PROVIDER_BODY_BYTES,
  type RetryPolicy,
} from '../src/providers/provider-http.ts';

// A plain local HTTP server rather than the provider fakes: these tests are about bytes on the
// wire (sizes, declared lengths, a body that never ends), which the fakes do not produce.

const LIMIT = MAX_PROVIDER_BODY_BYTES;
const CHUNK = 64 * 1024;
const pageSchema = z.object({ data: z.array(z.number()), has_more: z.boolean() });

/** A JSON page of exactly `size` bytes: the padding goes in a key the page schema ignores. */
function pageOfSize(size: number): string {
  const head = '{"data":[1,2,3],"has_more":false,"pad":"';
  const tail = '"}';
  return head + 'x'.repeat(size - head.length - tail.length) + tail;
}

/** Writes `body` in chunks, honouring backpressure; stops when the client goes. Resolves with bytes written. */
async function writeChunked(res: ServerResponse, body: string): Promise<number> {
  let written = 0;
  for (let at = 0; at < body.length && !res.destroyed; at += CHUNK) {
    const chunk = body.slice(at, at + CHUNK);
    written += chunk.length;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        const done = () => {
          res.off('drain', done);
          res.off('close', done);
          resolve();
        };
        res.on('drain', done);
        res.on('close', done);
      });
    }
  }
  if (!res.destroyed) res.end();
  return written;
}

let base: string;
let lastWrite: Promise<number> = Promise.resolve(0);
/** Kept when the client closes the connection of the `/declared` answer. */
let declaredClosed: Promise<void> = Promise.resolve();
const server = createServer((req, res) => {
  const path = new URL(req.url ?? '/', 'http://local').pathname;
  if (path === '/v1/at-limit' || path === '/v1/over-limit') {
    // Chunked, no content-length: only counting the bytes read can catch it.
    res.writeHead(200, { 'content-type': 'application/json' });
    lastWrite = writeChunked(res, pageOfSize(path === '/v1/at-limit' ? LIMIT : LIMIT + 1));
    return;
  }
  if (path === '/v1/declared') {
    // Claims more than the limit and then stalls: the poller must not wait for the rest to refuse it.
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(LIMIT + 1) });
    res.write('{"data":[');
    declaredClosed = new Promise((resolve) => res.on('close', () => resolve()));
    return;
  }
  if (path === '/v1/redirect') {
    res.writeHead(302, { location: `${base}/v1/elsewhere` }).end();
    return;
  }
  if (path === '/v1/elsewhere') {
    elsewhereHits += 1;
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"data":[9],"has_more":false}');
    return;
  }
  if (path === '/v1/stall') {
    // Headers, then nothing: only a timeout that covers the body ends this request.
    stallRequests += 1;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"data":[');
    return;
  }
  res.writeHead(404).end();
});
let elsewhereHits = 0;
let stallRequests = 0;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const pages = (path: string, retry?: RetryPolicy) =>
  fetchAllPages({
    provider: 'openai',
    fetch,
    sleep: async () => undefined,
    log: createLogger({ service: 'cost-poller-test', level: 'silent' }),
    url: new URL(path, base),
    headers: { authorization: 'Bearer sk-admin-secret' },
    pageSchema,
    ...(retry === undefined ? {} : { retry }),
  });

const tooLarge = (path: string) => (err: unknown) => {
  assert.ok(err instanceof HalError);
  assert.equal(err.code, ErrorCode.PROVIDER_BAD_RESPONSE);
  assert.equal(err.message, `openai: ${path} response larger than 16 MiB`);
  assert.deepEqual(err.details, { provider: 'openai', path, limit_bytes: LIMIT });
  return true;
};

test('provider http - a body of exactly 16 MiB is read and parsed', async () => {
  assert.deepEqual(await pages('/v1/at-limit'), [1, 2, 3]);
  assert.equal(await lastWrite, LIMIT);
});

test('provider http - a streamed body one byte over 16 MiB fails PROVIDER_BAD_RESPONSE', async () => {
  await assert.rejects(pages('/v1/over-limit'), tooLarge('/v1/over-limit'));
});

// The timeout turns a reader that waits for the stalled body into a failure instead of a hang.
test('provider http - a declared content-length over 16 MiB fails without waiting for the body', {
  timeout: 10_000,
}, async () => {
  await assert.rejects(pages('/v1/declared'), tooLarge('/v1/declared'));
  // The read was cancelled: the connection is closed rather than left hanging on the stalled body.
  await declaredClosed;
});

test('provider http - a redirect is refused with PROVIDER_BAD_RESPONSE and the admin key never reaches its target', async () => {
  await assert.rejects(pages('/v1/redirect'), (err: unknown) => {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, ErrorCode.PROVIDER_BAD_RESPONSE);
    assert.match(err.message, /^openai: HTTP 302 redirect refused/);
    assert.equal((err.details as { location?: string }).location, `${base}/v1/elsewhere`);
    return true;
  });
  assert.equal(elsewhereHits, 0);
});

test('provider http - a provider that stops answering mid-body times out, is retried, then fails UNAVAILABLE', {
  timeout: 10_000,
}, async () => {
  const retry = { ...DEFAULT_RETRY, max5xx: 1, requestTimeoutMs: 200 };
  await assert.rejects(pages('/v1/stall', retry), (err: unknown) => {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, ErrorCode.UNAVAILABLE);
    assert.equal(err.message, 'openai: no answer within 200 ms');
    return true;
  });
  assert.equal(stallRequests, 2);
});

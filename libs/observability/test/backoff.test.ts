import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backoffDelay } from '../src/index.ts';

const RECONNECT = { initialMs: 500, maxMs: 30_000 };

test('backoff - delays double from the first one and stay at the cap', () => {
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6, 7, 100, 10_000].map((n) => backoffDelay(n, RECONNECT)),
    [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000],
  );
});

test('backoff - full jitter spreads each delay over [0, the capped delay) in whole ms', () => {
  assert.equal(
    backoffDelay(0, RECONNECT, () => 0.999),
    499,
  );
  assert.equal(
    backoffDelay(3, RECONNECT, () => 0.5),
    2000,
  );
  assert.equal(
    backoffDelay(20, RECONNECT, () => 0.999),
    29_970,
  );
  assert.equal(
    backoffDelay(5, RECONNECT, () => 0),
    0,
  );
});

test('backoff - a cap below the first delay and a negative attempt give the cap and the first delay', () => {
  assert.equal(backoffDelay(0, { initialMs: 1000, maxMs: 200 }), 200);
  assert.equal(backoffDelay(-3, RECONNECT), 500);
  assert.equal(backoffDelay(0, { initialMs: 0, maxMs: 1000 }), 0, 'no NaN when the first delay is 0');
  assert.equal(backoffDelay(Number.MAX_SAFE_INTEGER, { initialMs: 0, maxMs: 1000 }), 0);
});

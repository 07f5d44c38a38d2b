import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventRecord } from '@hal/protocol';
import { applyEvent } from '../src/facts.ts';

const T = Date.parse('2030-01-01T12:00:00.000Z');
const TEN_MIN = 600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** An event from a host whose clock is `skew` ahead, received by the gateway at `receivedAt`. */
function fromHost(
  skew: number,
  receivedAt: number,
  type: string,
  data: Record<string, unknown>,
  hostAt = receivedAt,
) {
  return {
    version: 1,
    id: crypto.randomUUID(),
    seq: 1,
    node: 'n1',
    project: 'p',
    session: 's1',
    type,
    time: iso(hostAt + skew),
    data,
    received_at: iso(receivedAt),
    host_skew_ms: skew,
  } as EventRecord;
}

test('policy facts - idle and errors are timed by control-plane time, whatever the host clock says', () => {
  const idle = applyEvent(undefined, fromHost(TEN_MIN, T, 'session.idle', {}));
  assert.equal(idle?.idle_since, T);
  const behind = applyEvent(undefined, fromHost(-TEN_MIN, T, 'session.idle', {}));
  assert.equal(behind?.idle_since, T);
  // A backlog: written two hours before it was received, on a host 10 minutes ahead.
  const old = applyEvent(
    undefined,
    fromHost(TEN_MIN, T, 'session.error', { kind: 'APIError' }, T - 7_200_000),
  );
  assert.deepEqual(old?.error_times, [T - 7_200_000]);
});

test('policy facts - a retry time opencode computed on the host is moved onto the control plane clock', () => {
  const retry = applyEvent(
    undefined,
    fromHost(TEN_MIN, T, 'session.retry', {
      message: 'rate limit reached',
      next_at: iso(T + TEN_MIN + 60_000),
    }),
  );
  assert.deepEqual(retry?.limit, { at: T, resume_at: T + 60_000 });
  const reset = applyEvent(
    undefined,
    fromHost(-TEN_MIN, T, 'session.error', {
      kind: 'APIError',
      status_code: 429,
      reset_at: iso(T - TEN_MIN + 60_000),
    }),
  );
  assert.deepEqual(reset?.limit, { at: T, resume_at: T + 60_000 });
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BACKLOG_GAP_MS, controlPlaneTime } from '../src/index.ts';

const T = Date.parse('2030-01-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();
const TEN_MIN = 600_000;

test('event time - a live event is timed by received_at, whatever the host clock says', () => {
  assert.equal(controlPlaneTime({ time: iso(T + TEN_MIN), received_at: iso(T), host_skew_ms: TEN_MIN }), T);
  assert.equal(controlPlaneTime({ time: iso(T - TEN_MIN), received_at: iso(T), host_skew_ms: -TEN_MIN }), T);
  // A host clock that jumped ahead of its measured skew never times an event after its reception.
  assert.equal(
    controlPlaneTime({ time: iso(T + 2 * TEN_MIN), received_at: iso(T), host_skew_ms: TEN_MIN }),
    T,
  );
});

test('event time - a backlog is timed by the host time corrected by the skew, so its spacing stays', () => {
  const times = [4, 3, 2, 1].map((h) =>
    controlPlaneTime({ time: iso(T - h * 3_600_000 + TEN_MIN), received_at: iso(T), host_skew_ms: TEN_MIN }),
  );
  assert.deepEqual(
    times,
    [4, 3, 2, 1].map((h) => T - h * 3_600_000),
  );
  // Just past the gap it is a backlog; within it, live.
  const host = (lagMs: number) => ({ time: iso(T - lagMs), received_at: iso(T), host_skew_ms: 0 });
  assert.equal(controlPlaneTime(host(BACKLOG_GAP_MS + 1)), T - BACKLOG_GAP_MS - 1);
  assert.equal(controlPlaneTime(host(BACKLOG_GAP_MS)), T);
});

test('event time - records without received_at (older, or the control plane own) are timed by time', () => {
  assert.equal(controlPlaneTime({ time: iso(T) }), T);
  assert.equal(
    controlPlaneTime({ time: iso(T - TEN_MIN), received_at: iso(T) }),
    T,
    'no skew measured: received_at',
  );
  assert.equal(controlPlaneTime({ time: 'garbage' }), undefined);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AckWindow } from '../src/ack-window.ts';

test('ws ack window - acks only the highest contiguous settled seq, whatever order publishes finish in', () => {
  const w = new AckWindow();
  const [s1, s2, s3, s4] = [1, 2, 3, 4].map((seq) => w.open(seq));
  assert.equal(w.acked, -1);
  assert.equal(w.settle(s3!), false);
  assert.equal(w.settle(s2!), false);
  assert.equal(w.acked, -1);
  assert.equal(w.settle(s1!), true);
  assert.equal(w.acked, 3);
  assert.equal(w.pending, 1);
  assert.equal(w.settle(s4!), true);
  assert.equal(w.acked, 4);
  assert.equal(w.pending, 0);
});

test('ws ack window - a resend of lower seqs never moves the ack back; gaps in seqs are fine', () => {
  const w = new AckWindow();
  w.settle(w.open(10));
  w.settle(w.open(15));
  assert.equal(w.acked, 15);
  assert.equal(w.settle(w.open(12)), false);
  assert.equal(w.acked, 15);
  // Many slots: the array is compacted without losing order.
  const slots = Array.from({ length: 5_000 }, (_, i) => w.open(100 + i));
  for (const s of slots.slice(1)) w.settle(s);
  assert.equal(w.acked, 15);
  w.settle(slots[0]!);
  assert.equal(w.acked, 5_099);
});

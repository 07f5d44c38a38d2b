import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventRecord } from '@hal/protocol';
import { applyEvent, MAX_APPLIED_KEPT, type SessionFacts, wasApplied } from '../src/facts.ts';

let n = 0;
function event(type: string, data: Record<string, unknown> = {}, id: string = crypto.randomUUID()) {
  n += 1;
  return {
    version: 1,
    id,
    seq: n,
    node: 'n1',
    project: 'p',
    session: 's1',
    type,
    time: new Date(Date.parse('2030-01-01T00:00:00.000Z') + n).toISOString(),
    data,
  } as EventRecord;
}

const compaction = () => event('session.compacted');

test('policy facts - a resent event is recognised and changes nothing; the record of applied events stays small', () => {
  let facts: SessionFacts | undefined;
  const first = compaction();
  facts = applyEvent(facts, first);
  assert.equal(facts?.compactions, 1);
  // Many more events, each remembered: the record is bounded, whatever the ids look like.
  const later: EventRecord[] = [];
  for (let i = 0; i < MAX_APPLIED_KEPT * 3; i++) {
    const e = compaction();
    // Ids come from hosts: long, odd ones cost no more room than a UUID.
    if (i % 7 === 0) Object.assign(e, { id: `${'x'.repeat(200)}-${i}` });
    later.push(e);
    facts = applyEvent(facts, e);
  }
  assert.ok(facts);
  assert.equal(facts.compactions, 1 + MAX_APPLIED_KEPT * 3);
  assert.ok(JSON.stringify(facts).length < 3_000, `facts are ${JSON.stringify(facts).length} bytes`);
  // The newest MAX_APPLIED_KEPT are recognised when resent, and a resend changes nothing.
  for (const e of later.slice(-MAX_APPLIED_KEPT)) {
    assert.equal(wasApplied(facts, e), true);
    assert.equal(applyEvent(facts, e), undefined);
  }
  // Older ones have left the record (a resend comes back within the agent's unacked window).
  assert.equal(wasApplied(facts, first), false);
  // An event never seen is applied.
  const fresh = compaction();
  assert.equal(wasApplied(facts, fresh), false);
  assert.equal(applyEvent(facts, fresh)?.compactions, 2 + MAX_APPLIED_KEPT * 3);
});

test('policy facts - facts written by the previous version (a list of event ids) are still read, and rewritten compact', () => {
  const seen = compaction();
  const applied = applyEvent(undefined, seen);
  assert.ok(applied);
  const old: SessionFacts = { ...applied, applied: [seen.id] };
  assert.equal(wasApplied(old, seen), true);
  assert.equal(applyEvent(old, seen), undefined);
  const next = applyEvent(old, compaction());
  assert.ok(next);
  assert.equal(typeof next.applied, 'string');
  assert.equal(wasApplied(next, seen), true);
  assert.equal(next.compactions, 2);
});

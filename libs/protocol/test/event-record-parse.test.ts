import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventRecordSchema, parseEventRecord } from '@hal/protocol';

const valid = {
  version: 1,
  id: '6f1c1c1e-3b7a-4a53-9f53-3f0f1f8e2d11',
  seq: 7,
  node: 'n1',
  project: 'web',
  session: 'ses_1',
  type: 'message.part',
  time: '2026-11-25T10:00:00.000Z',
  data: { text: 'hi', nested: { a: [1, 2, { b: null }] } },
  refs: { part_id: 'prt_1', session_id: 'ses_1' },
};

/** Values that are wrong (or odd) for some field of the schema. */
const odd: unknown[] = [
  undefined,
  null,
  0,
  -1,
  1.5,
  2 ** 53,
  Number.NaN,
  '',
  'x',
  'a.b',
  'a b',
  'x'.repeat(257),
  'é'.repeat(300),
  'Session.Idle',
  '2026-11-25T10:00:00Z',
  '2026-11-25T10:00:00+02:00',
  '2026-02-30T10:00:00Z',
  '2026-11-25 10:00:00Z',
  'ffffffff-ffff-ffff-ffff-ffffffffffff',
  '6f1c1c1e-3b7a-4a53-9f53-3f0f1f8e2d1',
  [],
  {},
  { a: 1 },
  { event_id: 'e' },
  { part_id: 5 },
  { bogus: 'x' },
  { part_id: 'p'.repeat(257) },
  JSON.parse('{"__proto__": {"polluted": 1}}'),
  Object.create(null),
  Object.assign(Object.create({ inherited: 1 }), { a: 1 }),
  { constructor: { name: 'x' } },
  { [Symbol('s')]: 1 },
  deep(31),
  deep(32),
  deep(40),
  '%',
  'node/with.dots*>',
  'ünïcödé',
];

function deep(levels: number): Record<string, unknown> {
  let v: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) v = { v };
  return v;
}

/** Every record both paths see: the valid one, each field dropped, each field set to each odd value, extra keys. */
function variants(): unknown[] {
  const out: unknown[] = [valid, { ...valid, version: undefined }, null, [], 'event', 5];
  const fields = [...Object.keys(valid), 'received_at', 'host_skew_ms', 'extra', '__proto__'];
  for (const field of fields) {
    const { [field]: _dropped, ...without } = valid as Record<string, unknown>;
    out.push(without);
    for (const value of odd) out.push({ ...valid, [field]: value });
    out.push(JSON.parse(JSON.stringify({ ...valid }).replace('{', `{"${field}": 1, `)));
  }
  out.push({ ...valid, received_at: '2026-11-25T10:00:01.000Z', host_skew_ms: -120 });
  out.push({ ...valid, host_skew_ms: 10 * 365 * 24 * 3_600_000 + 1 });
  out.push({ ...valid, session: null, project: '' });
  out.push({ ...valid, data: undefined });
  out.push(Object.assign(Object.create(null), valid));
  return out;
}

test('protocol - parseEventRecord gives exactly what eventRecordSchema.safeParse gives, on valid and broken records', () => {
  let accepted = 0;
  for (const raw of variants()) {
    const ours = parseEventRecord(raw);
    const zods = eventRecordSchema.safeParse(raw);
    assert.equal(ours.success, zods.success, `success differs for ${JSON.stringify(raw)?.slice(0, 200)}`);
    if (ours.success && zods.success) {
      accepted++;
      assert.deepStrictEqual(ours.data, zods.data);
      // Same key order too: what is published is JSON.stringify of it.
      assert.equal(JSON.stringify(ours.data), JSON.stringify(zods.data));
    } else if (!ours.success && !zods.success) {
      assert.deepStrictEqual(ours.error.issues, zods.error.issues);
    }
  }
  assert.ok(accepted > 20, `only ${accepted} variants accepted: the comparison would prove little`);
});

test("protocol - parseEventRecord copies data and refs, never hands back the caller's objects", () => {
  const raw = structuredClone(valid);
  const parsed = parseEventRecord(raw);
  assert.ok(parsed.success);
  assert.notEqual(parsed.data.data, raw.data);
  assert.notEqual(parsed.data.refs, raw.refs);
  assert.equal(parsed.data.version, 1);
});

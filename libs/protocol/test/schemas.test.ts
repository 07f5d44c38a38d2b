import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  commandSchema,
  ErrorCode,
  envelopeSchema,
  eventRecordSchema,
  HalError,
  httpStatusOf,
  makeEnvelope,
  parseOrThrow,
  wsPayloadSchemas,
} from '@hal/protocol';

const event = {
  id: '6f1c1c1e-3b7a-4a53-9f53-3f0f1f8e2d11',
  seq: 7,
  node: 'n1',
  project: 'web',
  session: 'ses_1',
  type: 'session.idle',
  time: '2026-11-25T10:00:00.000Z',
  data: {},
};

test('protocol - a valid event passes and gets the current version', () => {
  const parsed = eventRecordSchema.parse(event);
  assert.equal(parsed.version, 1);
  assert.equal(parsed.seq, 7);
});

test('protocol - parseOrThrow names the path of every problem', () => {
  try {
    parseOrThrow(eventRecordSchema, { ...event, id: 'x', seq: -1, extra: true }, 'event');
    assert.fail('should throw');
  } catch (err) {
    assert.ok(err instanceof HalError);
    assert.equal(err.code, ErrorCode.VALIDATION_FAILED);
    assert.match(err.message, /^invalid event: /);
    const paths = (err.details as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort();
    assert.deepEqual(paths, ['(root)', 'id', 'seq']);
  }
});

test('protocol - commands are a closed set', () => {
  assert.equal(commandSchema.parse({ type: 'kill', session: 's' }).type, 'kill');
  assert.equal(commandSchema.safeParse({ type: 'format_disk' }).success, false);
  assert.equal(
    commandSchema.safeParse({ type: 'permission', session: 's', permission_id: 'p', response: 'maybe' })
      .success,
    false,
  );
});

test('protocol - makeEnvelope builds frames that pass both envelope and payload schemas', () => {
  const frame = makeEnvelope('ack', { seq: 12 });
  assert.ok(envelopeSchema.safeParse(frame).success);
  assert.deepEqual(wsPayloadSchemas.ack.parse(frame.payload), { seq: 12 });
});

test('protocol - every error code has an HTTP status', () => {
  for (const code of Object.values(ErrorCode)) assert.equal(typeof httpStatusOf[code], 'number', code);
  assert.equal(httpStatusOf.NODE_OFFLINE, 503);
  assert.equal(new HalError('TIMEOUT', 'slow').toBody().code, 'TIMEOUT');
});

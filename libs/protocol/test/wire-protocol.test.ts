import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  envelopeSchema,
  formatProtocolVersion,
  makeEnvelope,
  negotiateProtocol,
  SCHEMA_VERSION,
  WIRE_PROTOCOL,
} from '@hal/protocol';

const gw = { major: 1, minor: 3 };

test('wire protocol - the current version, a newer minor and one minor behind are accepted', () => {
  assert.deepEqual(negotiateProtocol('1.3', gw), { ok: true, version: { major: 1, minor: 3 }, missing: [] });
  // An agent upgraded before its gateway speaks the gateway's version.
  assert.deepEqual(negotiateProtocol('1.5', gw), { ok: true, version: { major: 1, minor: 3 }, missing: [] });
  const behind = negotiateProtocol('1.2', gw);
  assert.equal(behind.ok, true);
  assert.deepEqual(behind.ok && behind.version, { major: 1, minor: 2 });
});

test('wire protocol - two minors behind is refused with both versions named', () => {
  const r = negotiateProtocol('1.1', gw);
  assert.equal(r.ok, false);
  assert.equal(
    !r.ok && r.message,
    'agent speaks protocol 1.1, this gateway speaks protocol 1.3 and accepts agents 1.2 to 1.x (at most 1 minor version behind): upgrade the agent',
  );
});

test('wire protocol - another major is refused naming which side to upgrade; junk is refused', () => {
  const older = negotiateProtocol('0.9', gw);
  assert.match(
    !older.ok ? older.message : '',
    /^agent speaks protocol 0\.9, this gateway speaks protocol 1\.3 .*upgrade the agent$/,
  );
  const newer = negotiateProtocol('2.0', gw);
  assert.match(!newer.ok ? newer.message : '', /^agent speaks protocol 2\.0, .*upgrade the gateway$/);
  const junk = negotiateProtocol('v1', gw);
  assert.match(!junk.ok ? junk.message : '', /"v1" is not a <major>\.<minor> version/);
});

test('wire protocol - a hello without protocol is 1.0, the version before the split', () => {
  const atOne = negotiateProtocol(undefined, { major: 1, minor: 1 });
  assert.equal(atOne.ok, true);
  assert.deepEqual(atOne.ok && atOne.version, { major: 1, minor: 0 });
  assert.deepEqual(
    atOne.ok && atOne.missing.map((m) => m.feature),
    ['version_negotiation'],
    'a 1.0 agent lacks what 1.1 brought',
  );
  assert.equal(negotiateProtocol(undefined, { major: 1, minor: 2 }).ok, false);
});

test('wire protocol - the envelope carries the wire major, apart from the stored schema version', () => {
  const env = envelopeSchema.parse(makeEnvelope('ack', { seq: 1 }));
  assert.equal(env.version, WIRE_PROTOCOL.major);
  assert.equal(SCHEMA_VERSION, 1);
  assert.match(formatProtocolVersion(WIRE_PROTOCOL), /^\d+\.\d+$/);
});

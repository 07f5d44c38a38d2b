import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  commandResultPayloadSchema,
  ErrorCode,
  escapeToken,
  eventRecordSchema,
  findTooDeep,
  HalError,
  helloPayloadSchema,
  isAgentEventType,
  isReservedNodeName,
  LIMITS,
  SYSTEM_NODE,
  subjects,
} from '@hal/protocol';

const limitExceeded = (err: unknown) => err instanceof HalError && err.code === ErrorCode.LIMIT_EXCEEDED;

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

test('limits - findTooDeep survives 100,000 levels and names the path of the first too-deep container', () => {
  assert.equal(findTooDeep(nested(32), 32), undefined);
  assert.deepEqual(findTooDeep({ x: [1, { y: {} }] }, 2), ['x', 1]);
  const path = findTooDeep(nested(100_000), 32);
  assert.equal(path?.length, 32);
  assert.equal(findTooDeep('text', 0), undefined);
});

test('limits - an event whose data is 6,000 levels deep is refused with its path, never serialised', () => {
  const result = eventRecordSchema.safeParse({
    id: crypto.randomUUID(),
    seq: 1,
    node: 'n1',
    project: 'p',
    session: 's',
    type: 'message.part',
    time: new Date().toISOString(),
    data: nested(6_000),
  });
  assert.equal(result.success, false);
  const issue = result.error?.issues[0];
  assert.equal(issue?.message, `nested deeper than ${LIMITS.dataDepth} levels`);
  assert.deepEqual(issue?.path.slice(0, 3), ['data', 'a', 'a']);
  assert.equal(issue?.path.length, LIMITS.dataDepth + 1);
  // A command result's data and error details are bounded the same way.
  const deep = commandResultPayloadSchema.safeParse({ command_id: 'c', ok: true, data: nested(5_000) });
  assert.equal(deep.success, false);
});

test('limits - every subject builder refuses ids that would escape past the token limit', () => {
  const ascii = 'x'.repeat(LIMITS.idChars);
  const dotted = '.'.repeat(LIMITS.idChars);
  assert.equal(escapeToken(dotted).length, LIMITS.idTokenBytes, '256 ASCII characters of any kind fit');
  assert.ok(subjects.event(dotted, dotted, 'session.idle').length <= LIMITS.subjectBytes);
  const wide = 'é'.repeat(200); // 2 UTF-8 bytes → 6 escaped bytes each
  const huge = 'n'.repeat(1_000_000);
  const builders: Array<[string, (id: string) => string]> = [
    ['event node', (id) => subjects.event(id, 'p', 'session.idle')],
    ['event project', (id) => subjects.event('n', id, 'session.idle')],
    ['filter node', (id) => subjects.eventFilter({ node: id })],
    ['filter project', (id) => subjects.eventFilter({ project: id })],
    ['heartbeat', (id) => subjects.heartbeat(id)],
    ['command', (id) => subjects.command(id)],
    ['claim', (id) => subjects.nodeClaim(id)],
    ['tracker query', (id) => subjects.trackerQuery(id)],
    ['cost query', (id) => subjects.costQuery(id)],
    ['policy query', (id) => subjects.policyQuery(id)],
    ['notify channel', (id) => subjects.notify(id, 'r')],
    ['notify route', (id) => subjects.notify('c', id)],
    ['notify filter', (id) => subjects.notifyFilter(id)],
    ['audit', (id) => subjects.audit(id)],
  ];
  for (const [name, build] of builders) {
    assert.doesNotThrow(() => build(ascii), name);
    assert.throws(() => build(wide), limitExceeded, name);
    assert.throws(() => build(huge), limitExceeded, name);
  }
  assert.throws(() => subjects.event('n', 'p', `a.${'b'.repeat(200)}`), /longer than 128 characters/);
  assert.throws(() => subjects.eventFilter({ type: `${'a.'.repeat(100)}>` }), /longer than 128 characters/);
});

test('limits - ids are bounded where they enter: hello, events', () => {
  const base = { agent_version: '1', projects: [], last_acked_seq: 0 };
  assert.equal(helloPayloadSchema.safeParse({ ...base, node: 'é'.repeat(200) }).success, false);
  assert.equal(helloPayloadSchema.safeParse({ ...base, node: 'h.example.com' }).success, true);
  const projects = Array.from({ length: LIMITS.projectsPerNode + 1 }, (_, i) => ({
    name: `p${i}`,
    directory: `/p${i}`,
  }));
  assert.equal(helloPayloadSchema.safeParse({ ...base, node: 'n', projects }).success, false);
});

test('authority - agents publish host event types only; control-plane types and reserved names are refused', () => {
  for (const type of [
    'session.idle',
    'message.completed',
    'part.updated',
    'permission.asked',
    'question.asked',
    'agent.spool_overflow',
    'env.check',
    'opencode.file.edited',
  ]) {
    assert.equal(isAgentEventType(type), true, type);
  }
  for (const type of [
    'node.online',
    'node.snapshot',
    'cost.budget_exceeded',
    'policy.action',
    'audit.record',
    'command.executed',
    'security.session_conflict',
    'sessionx.idle',
    'opencode',
  ]) {
    assert.equal(isAgentEventType(type), false, type);
  }
  assert.equal(isReservedNodeName(SYSTEM_NODE), true);
  assert.equal(isReservedNodeName('Control-Plane'), true);
  assert.equal(isReservedNodeName('web-1'), false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ErrorCode, escapeToken, HalError, parseEventSubject, subjects, unescapeToken } from '@hal/protocol';

test('subjects - builders produce the exact documented subjects', () => {
  const table: Array<[string, string]> = [
    [subjects.event('node-1', 'web', 'session.idle'), 'hal.evt.node-1.web.session.idle'],
    [subjects.event('node-1', '', 'node.online'), 'hal.evt.node-1.%.node.online'],
    [subjects.eventFilter(), 'hal.evt.*.*.>'],
    [subjects.eventFilter({ node: 'a', type: 'session.*' }), 'hal.evt.a.*.session.*'],
    [subjects.eventFilter({ project: 'p', type: 'cost.>' }), 'hal.evt.*.p.cost.>'],
    [subjects.heartbeat('h1'), 'hal.hb.h1'],
    [subjects.heartbeatAll, 'hal.hb.*'],
    [subjects.command('h1'), 'hal.cmd.h1'],
    [subjects.nodeClaim('h1'), 'hal.gw.claim.h1'],
    [subjects.trackerQuery('sessions_list'), 'hal.q.tracker.sessions_list'],
    [subjects.costQuery('report'), 'hal.q.cost.report'],
    [subjects.policyQuery('list'), 'hal.q.policy.list'],
    [subjects.notify('discord', 'alerts'), 'hal.notify.discord.alerts'],
    [subjects.notifyFilter(), 'hal.notify.*.*'],
    [subjects.audit('user'), 'hal.audit.user'],
  ];
  for (const [actual, expected] of table) assert.equal(actual, expected);
});

test('subjects - ids with dots, wildcards and spaces stay one literal token', () => {
  const table: Array<[string, string]> = [
    ['host.example.com', 'host%2Eexample%2Ecom'],
    ['*', '%2A'],
    ['>', '%3E'],
    ['my project', 'my%20project'],
    ['a%b', 'a%25b'],
    ['café', 'caf%C3%A9'],
    ['', '%'],
  ];
  for (const [id, token] of table) {
    assert.equal(escapeToken(id), token);
    assert.equal(unescapeToken(token), id);
    assert.doesNotMatch(token, /[.*>\s]/);
  }
  // A hostile node id cannot widen a subscription or reach another node's subject.
  assert.equal(subjects.command('a.>'), 'hal.cmd.a%2E%3E');
  assert.equal(subjects.event('x.*', 'p q', 'session.idle').split('.').length, 6);
});

test('subjects - parseEventSubject inverts event()', () => {
  const s = subjects.event('host.a', 'my proj', 'message.completed');
  assert.deepEqual(parseEventSubject(s), { node: 'host.a', project: 'my proj', type: 'message.completed' });
});

test('subjects - invalid types and tokens are rejected with VALIDATION_FAILED', () => {
  for (const bad of ['Session.Idle', 'session..idle', 'session.*', '', 'a b']) {
    assert.throws(
      () => subjects.event('n', 'p', bad),
      (err: unknown) => err instanceof HalError && err.code === ErrorCode.VALIDATION_FAILED,
    );
  }
  assert.throws(() => subjects.eventFilter({ type: 'a.>.b' }), /not a type or glob/);
  assert.throws(() => unescapeToken('a.b'), /not an escaped id/);
  assert.throws(() => parseEventSubject('hal.hb.x'), /not an event subject/);
});

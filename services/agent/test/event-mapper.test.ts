import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventRecordSchema } from '@hal/protocol';
import {
  createMapperState,
  isDroppedType,
  type MappedEvent,
  mapOpencodeEvent,
  RAW_PROPERTIES_LIMIT,
  rawType,
  storedMessageEvents,
} from '../src/index.ts';

const S = 'ses_1';
const ev = (type: string, properties: Record<string, unknown>, id = 'evt_1') => ({ id, type, properties });

const assistant = (extra: Record<string, unknown>) => ({
  id: 'msg_a',
  sessionID: S,
  role: 'assistant',
  modelID: 'fake-model',
  providerID: 'fake',
  cost: 0.25,
  tokens: { total: 1290, input: 1034, output: 56, reasoning: 3, cache: { read: 200, write: 7 } },
  finish: 'stop',
  time: { created: 1795621368402 },
  ...extra,
});

interface Row {
  name: string;
  event: { id?: string; type: string; properties: Record<string, unknown> };
  expect: Array<
    Pick<MappedEvent, 'type' | 'session'> & { data?: Record<string, unknown>; refs?: Record<string, unknown> }
  >;
}

const table: Row[] = [
  {
    name: 'session.created carries title, directory and creation time',
    event: ev('session.created', {
      sessionID: S,
      info: { id: S, title: 'exp', directory: '/p', time: { created: 0, updated: 0 } },
    }),
    expect: [
      {
        type: 'session.created',
        session: S,
        data: { title: 'exp', directory: '/p', parent_session: null, created_at: '1970-01-01T00:00:00.000Z' },
        refs: { event_id: 'evt_1', type: 'session.created', session_id: S },
      },
    ],
  },
  {
    name: 'session.deleted',
    event: ev('session.deleted', { sessionID: S, info: { id: S, parentID: 'ses_0' } }),
    expect: [{ type: 'session.deleted', session: S, data: { parent_session: 'ses_0' } }],
  },
  {
    name: 'status busy → session.busy',
    event: ev('session.status', { sessionID: S, status: { type: 'busy' } }),
    expect: [{ type: 'session.busy', session: S, data: {} }],
  },
  {
    name: 'status idle → session.idle',
    event: ev('session.status', { sessionID: S, status: { type: 'idle' } }),
    expect: [{ type: 'session.idle', session: S, data: {} }],
  },
  {
    name: 'status retry → session.retry with next_at as ISO time',
    event: ev('session.status', {
      sessionID: S,
      status: { type: 'retry', attempt: 1, message: 'Rate limit exceeded', next: 1000 },
    }),
    expect: [
      {
        type: 'session.retry',
        session: S,
        data: { attempt: 1, message: 'Rate limit exceeded', next_at: '1970-01-01T00:00:01.000Z' },
      },
    ],
  },
  {
    name: 'session.compacted',
    event: ev('session.compacted', { sessionID: S }),
    expect: [{ type: 'session.compacted', session: S, data: {} }],
  },
  {
    name: 'session.error keeps the error name as kind',
    event: ev('session.error', {
      sessionID: S,
      error: { name: 'APIError', data: { message: 'Invalid API key', statusCode: 401, isRetryable: false } },
    }),
    expect: [
      {
        type: 'session.error',
        session: S,
        data: { kind: 'APIError', message: 'Invalid API key', status_code: 401, retryable: false },
      },
    ],
  },
  {
    name: 'permission.asked',
    event: ev('permission.asked', {
      id: 'per_1',
      sessionID: S,
      permission: 'bash',
      patterns: ['echo hi > out.txt'],
      metadata: { command: 'echo hi > out.txt' },
      always: ['echo *'],
      tool: { messageID: 'msg_a', callID: 'call_4' },
    }),
    expect: [
      {
        type: 'permission.asked',
        session: S,
        data: { permission_id: 'per_1', permission: 'bash', patterns: ['echo hi > out.txt'], tool: 'call_4' },
        refs: { event_id: 'evt_1', type: 'permission.asked', session_id: S, permission_id: 'per_1' },
      },
    ],
  },
  {
    name: 'permission.replied',
    event: ev('permission.replied', { sessionID: S, requestID: 'per_1', reply: 'once' }),
    expect: [{ type: 'permission.replied', session: S, data: { permission_id: 'per_1', response: 'once' } }],
  },
  {
    name: 'question.rejected → question.replied with rejected: true',
    event: ev('question.rejected', { sessionID: S, requestID: 'que_1' }),
    expect: [{ type: 'question.replied', session: S, data: { question_id: 'que_1', rejected: true } }],
  },
  {
    name: 'anything else travels raw as opencode.<type>',
    event: ev('file.edited', { file: '/p/a.ts' }),
    expect: [{ type: 'opencode.file.edited', session: null, data: { properties: { file: '/p/a.ts' } } }],
  },
  {
    name: 'streamed deltas are dropped',
    event: ev('message.part.delta', { sessionID: S, delta: 'x' }),
    expect: [],
  },
  { name: 'plugin noise is dropped', event: ev('plugin.added', { name: 'p' }), expect: [] },
  { name: 'heartbeats are dropped', event: ev('server.heartbeat', {}), expect: [] },
  {
    name: 'the deprecated session.idle twin is dropped',
    event: ev('session.idle', { sessionID: S }),
    expect: [],
  },
];

for (const row of table) {
  test(`event-mapper - ${row.name}`, () => {
    const out = mapOpencodeEvent(createMapperState(), row.event);
    assert.equal(out.length, row.expect.length);
    row.expect.forEach((want, i) => {
      const got = out[i];
      assert.ok(got);
      assert.equal(got.type, want.type);
      assert.equal(got.session, want.session);
      if (want.data !== undefined) assert.deepEqual(got.data, want.data);
      if (want.refs !== undefined) assert.deepEqual(got.refs, want.refs);
      // Every mapped event must make a valid record once the agent adds its envelope fields.
      eventRecordSchema.parse({
        id: crypto.randomUUID(),
        seq: 1,
        node: 'n',
        project: 'p',
        session: got.session,
        type: got.type,
        time: new Date().toISOString(),
        data: got.data,
        refs: got.refs,
      });
    });
  });
}

test('event-mapper - message.completed goes out once, with the final tokens, never summed', () => {
  const state = createMapperState();
  const updates = [
    assistant({ tokens: { input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } }, cost: 0 }),
    assistant({ tokens: { input: 500, output: 10, reasoning: 0, cache: { read: 0, write: 0 } } }),
    assistant({}), // final numbers, not completed yet
    assistant({ time: { created: 1, completed: 2 } }), // ← turn done
    assistant({ time: { created: 1, completed: 2 } }), // repeated update after completion
  ];
  const out = updates.flatMap((info, i) =>
    mapOpencodeEvent(state, ev('message.updated', { sessionID: S, info }, `evt_${i}`)),
  );
  assert.equal(out.length, 1);
  assert.equal(out[0]?.type, 'message.completed');
  assert.deepEqual(out[0]?.data, {
    message_id: 'msg_a',
    model: 'fake-model',
    provider: 'fake',
    tokens: { input: 1034, output: 56, reasoning: 3, cache_read: 200, cache_write: 7 },
    cost_usd: 0.25,
    finish: 'stop',
  });
  assert.deepEqual(out[0]?.refs, {
    event_id: 'evt_3',
    type: 'message.updated',
    session_id: S,
    message_id: 'msg_a',
  });
});

test('event-mapper - aborted assistant message reports its error name', () => {
  const out = mapOpencodeEvent(
    createMapperState(),
    ev('message.updated', {
      sessionID: S,
      info: assistant({
        time: { created: 1, completed: 2 },
        error: { name: 'MessageAbortedError', data: {} },
      }),
    }),
  );
  assert.equal(out[0]?.data.error, 'MessageAbortedError');
});

test('event-mapper - user messages and unfinished parts make no events; finished text and tool parts do, once', () => {
  const state = createMapperState();
  const user = mapOpencodeEvent(
    state,
    ev('message.updated', { sessionID: S, info: { id: 'msg_u', sessionID: S, role: 'user' } }),
  );
  assert.deepEqual(user, []);
  const part = (p: Record<string, unknown>) =>
    mapOpencodeEvent(
      state,
      ev('message.part.updated', { sessionID: S, part: { sessionID: S, ...p }, time: 1 }),
    );
  const userText = part({ id: 'prt_u', messageID: 'msg_u', type: 'text', text: 'first prompt' });
  assert.deepEqual(userText[0]?.data, {
    message_id: 'msg_u',
    part_id: 'prt_u',
    role: 'user',
    part_type: 'text',
    text: 'first prompt',
  });
  assert.deepEqual(part({ id: 'prt_t', messageID: 'msg_a', type: 'text', text: '', time: { start: 1 } }), []);
  const done = part({
    id: 'prt_t',
    messageID: 'msg_a',
    type: 'text',
    text: 'Hello.',
    time: { start: 1, end: 2 },
  });
  assert.equal(done[0]?.type, 'message.part');
  assert.equal(done[0]?.data.role, 'assistant');
  assert.deepEqual(done[0]?.refs, {
    event_id: 'evt_1',
    type: 'message.part.updated',
    session_id: S,
    message_id: 'msg_a',
    part_id: 'prt_t',
  });
  assert.deepEqual(
    part({ id: 'prt_t', messageID: 'msg_a', type: 'text', text: 'Hello.', time: { start: 1, end: 2 } }),
    [],
  );
  assert.deepEqual(part({ id: 'prt_s', messageID: 'msg_a', type: 'step-start' }), []);
  assert.deepEqual(
    part({
      id: 'prt_b',
      messageID: 'msg_a',
      type: 'tool',
      tool: 'bash',
      state: { status: 'running', input: {} },
    }),
    [],
  );
  const tool = part({
    id: 'prt_b',
    messageID: 'msg_a',
    type: 'tool',
    tool: 'bash',
    state: { status: 'completed', input: { command: 'echo hi' }, output: '(no output)' },
  });
  assert.deepEqual(tool[0]?.data, {
    message_id: 'msg_a',
    part_id: 'prt_b',
    role: 'assistant',
    part_type: 'tool',
    tool: 'bash',
    tool_status: 'completed',
    tool_input: { command: 'echo hi' },
    tool_output: '(no output)',
  });
});

test('event-mapper - raw properties over the limit are trimmed to a preview', () => {
  const big = 'x'.repeat(RAW_PROPERTIES_LIMIT * 2);
  const out = mapOpencodeEvent(createMapperState(), ev('session.diff', { sessionID: S, diff: [big] }));
  assert.equal(out[0]?.type, 'opencode.session.diff');
  assert.equal(out[0]?.data.truncated, true);
  assert.equal(String(out[0]?.data.preview).length, RAW_PROPERTIES_LIMIT);
});

test('event-mapper - raw type names are folded into the HAL vocabulary', () => {
  assert.equal(rawType('installation.update-available'), 'opencode.installation.update_available');
  assert.equal(rawType('tui.toast.show'), 'opencode.tui.toast.show');
  assert.equal(isDroppedType('plugin.added'), true);
  assert.equal(isDroppedType('catalog.updated'), true);
  assert.equal(isDroppedType('sync'), true);
  assert.equal(isDroppedType('file.edited'), false);
});

test('event-mapper - a stored message gives its final parts then message.completed, once; a completion seen live is not repeated', () => {
  const state = createMapperState();
  const refs = { type: 'reconcile', session_id: S };
  const done = assistant({ id: 'msg_b', time: { created: 1, completed: 2 } });
  const parts = [
    { id: 'prt_1', sessionID: S, messageID: 'msg_b', type: 'step-start' },
    { id: 'prt_2', sessionID: S, messageID: 'msg_b', type: 'text', text: 'Hi.', time: { start: 1, end: 2 } },
  ];
  const out = storedMessageEvents(state, { info: done, parts }, refs);
  assert.deepEqual(
    out.map((e) => [e.type, e.refs.message_id, e.refs.part_id]),
    [
      ['message.part', 'msg_b', 'prt_2'],
      ['message.completed', 'msg_b', undefined],
    ],
  );
  assert.deepEqual(out[1]?.data.tokens, {
    input: 1034,
    output: 56,
    reasoning: 3,
    cache_read: 200,
    cache_write: 7,
  });
  assert.equal(out[0]?.refs.type, 'reconcile');
  assert.deepEqual(
    storedMessageEvents(state, { info: done, parts }, refs),
    [],
    'the second time nothing is new',
  );

  // Completed live first: the stored copy adds nothing.
  mapOpencodeEvent(
    state,
    ev('message.updated', { info: assistant({ id: 'msg_c', time: { created: 1, completed: 3 } }) }),
  );
  assert.deepEqual(
    storedMessageEvents(
      state,
      { info: assistant({ id: 'msg_c', time: { created: 1, completed: 3 } }), parts: [] },
      refs,
    ),
    [],
  );
  // Not finished yet: no completion (it will come live).
  assert.deepEqual(storedMessageEvents(state, { info: assistant({ id: 'msg_d' }), parts: [] }, refs), []);
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { halctl } from './halctl-run.ts';
import {
  type CannedAnswer,
  event,
  OPERATOR,
  SESSIONS,
  type Stub,
  startStub,
  streamOpenedBy,
  VIEWER,
} from './halctl-stub-server.ts';

// halctl parses every answer of the API (HOUSE_STYLE rule 8): these answers break the contract
// one way each, and each must end in exit 1 with one line naming the path and the problem.

let stub: Stub;
before(async () => {
  stub = await startStub();
});
after(() => stub.close());

const as = (token: string, ...args: string[]) =>
  halctl(['--supervisor-url', stub.url, '--auth-token', token, ...args]);
const unexpected = (what: string) => `halctl: INTERNAL: unexpected answer from the API: ${what}\n`;

const s1 = SESSIONS[0] as (typeof SESSIONS)[number];
const auditRecord = {
  version: 1,
  id: '0b7e3f4c-2f7a-4d6e-9c1b-5a8d2e4f6a10',
  time: '2026-11-25T10:00:00.000Z',
  actor: { kind: 'user', id: 'ops' },
  action: 'session.kill',
  target: { session: 's1' },
  result: { ok: true },
};

const cases: Array<{ name: string; path: string; answer: CannedAnswer; args: string[]; line: string }> = [
  {
    name: 'a session in a state halctl does not know',
    path: '/api/v1/sessions',
    answer: { body: { data: [{ ...s1, state: 'sleeping' }], meta: {} } },
    args: ['sessions', 'list'],
    line: '/api/v1/sessions: data[0].state: Invalid option: expected one of "starting"|"running"|"idle"|"waiting_input"|"compacted"|"error"|"completed"|"killed"|"unreachable"',
  },
  {
    name: 'an envelope without meta',
    path: '/api/v1/nodes',
    answer: { body: { data: { nodes: [] } } },
    args: ['nodes', 'list'],
    line: '/api/v1/nodes: meta: Invalid input: expected record, received undefined',
  },
  {
    name: 'an HTML page with status 200 (a proxy login page, say)',
    path: '/api/v1/nodes',
    answer: { contentType: 'text/html', body: '<html>sign in</html>' },
    args: ['nodes', 'list'],
    line: '/api/v1/nodes: body is not JSON (text/html)',
  },
  {
    name: 'JSON that is not an envelope at all',
    path: '/api/v1/nodes',
    answer: { body: [] },
    args: ['nodes', 'list'],
    line: '/api/v1/nodes: (root): Invalid input: expected object, received array',
  },
  {
    name: 'a session without its token counts',
    path: '/api/v1/sessions/s1',
    answer: { body: { data: { ...s1, tokens: undefined }, meta: {} } },
    args: ['sessions', 'get', 's1'],
    line: '/api/v1/sessions/s1: data.tokens: Invalid input: expected object, received undefined',
  },
  {
    name: 'a log whose last_seq is not a number',
    path: '/api/v1/sessions/s1/logs',
    answer: { body: { data: [], meta: { last_seq: 'seven' } } },
    args: ['sessions', 'logs', 's1'],
    line: '/api/v1/sessions/s1/logs: meta.last_seq: Invalid input: expected number, received string',
  },
  {
    name: 'a stored event without a stream sequence',
    path: '/api/v1/events',
    answer: { body: { data: [{ ...event(1, 'session.idle'), stream_seq: 0 }], meta: {} } },
    args: ['events', 'tail'],
    line: '/api/v1/events: data[0].stream_seq: Too small: expected number to be >0',
  },
  {
    name: 'an audit record with a time that is not a time',
    path: '/api/v1/audit',
    answer: { body: { data: [{ ...auditRecord, time: 'yesterday' }], meta: {} } },
    args: ['audit', 'list'],
    line: '/api/v1/audit: data[0].time: Invalid ISO datetime',
  },
  {
    name: 'a policy without its state',
    path: '/api/v1/policies',
    answer: { body: { data: [{ name: 'resume_on_idle' }], meta: {} } },
    args: ['policies', 'list'],
    line: '/api/v1/policies: data[0].enabled: Invalid input: expected boolean, received undefined (and 4 more)',
  },
];

for (const c of cases) {
  test(`halctl answers - ${c.name} exits 1 with one line naming the path and the problem`, async () => {
    stub.answerOnce(c.path, c.answer);
    const r = await as(VIEWER, ...c.args);
    assert.deepEqual(r, { code: 1, stdout: '', stderr: unexpected(c.line) });
  });
}

test('halctl answers - a command answer without the node that acted is refused', async () => {
  stub.answerOnce('/api/v1/sessions/s1/kill', { body: { data: { accepted: true }, meta: {} } });
  const r = await as(OPERATOR, 'sessions', 'kill', 's1');
  assert.deepEqual(r, {
    code: 1,
    stdout: '',
    stderr: unexpected(
      '/api/v1/sessions/s1/kill: meta.node: Invalid input: expected string, received undefined',
    ),
  });
});

test('halctl answers - a good answer still prints (the audit list)', async () => {
  stub.answerOnce('/api/v1/audit', { body: { data: [auditRecord], meta: { count: 1 } } });
  const r = await as(VIEWER, 'audit', 'list');
  assert.equal(r.code, 0);
  assert.equal(r.stderr, '');
  assert.match(
    r.stdout,
    /^TIME\s+ACTOR\s+ACTION\s+TARGET\s+RESULT\n2026-11-25T10:00:00.000Z\s+user:ops\s+session\.kill\s+session=s1\s+ok\n$/,
  );
});

/** Starts `events tail --follow`, waits for its stream, and returns the run and the stream. */
async function follow(...extra: string[]) {
  const opened = stub.nextStream();
  const run = as(VIEWER, ...extra);
  const stream = await streamOpenedBy(opened, run);
  return { run, stream };
}

const LISTED = '1  2026-11-25T10:00:00.000Z  n1/alpha  s1  session.idle\n';
const LIVE = '2  2026-11-25T10:00:00.000Z  n1/alpha  s1  session.busy\n';

const badEvents: Array<{ name: string; raw: string; line: string }> = [
  {
    name: 'an event whose data is not an event',
    raw: `id: 3\nevent: session.idle\ndata: ${JSON.stringify({ ...event(3, 'session.idle'), time: 'now' })}\n\n`,
    line: '/api/v1/events/stream: event 3: data.time: Invalid ISO datetime',
  },
  {
    name: 'an event whose data is not JSON',
    raw: 'id: 3\nevent: session.idle\ndata: {"version":1,\n\n',
    line: '/api/v1/events/stream: event 3: data is not JSON',
  },
  {
    name: 'an event without an id',
    raw: `event: session.idle\ndata: ${JSON.stringify(event(3, 'session.idle'))}\n\n`,
    line: '/api/v1/events/stream: id: expected the stream sequence number, got none',
  },
  {
    name: 'an event larger than 1 MiB',
    // No blank line ever ends it: halctl must stop reading rather than buffer on.
    raw: `id: 3\nevent: session.idle\ndata: ${'x'.repeat(1024 * 1024)}`,
    line: '/api/v1/events/stream: an event is larger than 1 MiB',
  },
];

for (const c of badEvents) {
  test(`halctl events - ${c.name} mid-stream: lines before it stay, one error line, exit 1, stream closed`, async () => {
    const { run, stream } = await follow('events', 'tail', '--follow');
    stub.push(2, 'session.busy', event(2, 'session.busy'));
    stub.pushRaw(c.raw);
    // Never pushed if halctl kept reading past the bad event.
    stub.push(4, 'session.idle', event(4, 'session.idle'));
    const r = await run;
    assert.deepEqual(r, { code: 1, stdout: LISTED + LIVE, stderr: unexpected(c.line) });
    // halctl closed the connection itself; nobody had to end the stream for it to exit.
    await stream.closed;
  });
}

test('halctl sessions - logs --follow refuses a message.part event whose data is not a part', async () => {
  stub.answerOnce('/api/v1/sessions/s1/logs', {
    body: {
      data: [
        {
          stream_seq: 4,
          time: '2026-11-25T10:00:00.000Z',
          message_id: 'm1',
          part_id: 'p1',
          role: 'assistant',
          kind: 'text',
          text: 'hello',
          tool: null,
          tool_status: null,
        },
      ],
      meta: { last_seq: 4 },
    },
  });
  const { run, stream } = await follow('sessions', 'logs', 's1', '--follow');
  assert.equal(stream.request.url, '/api/v1/events/stream?session=s1&type=message.part&after_seq=4');
  const part = { message_id: 'm1', part_id: 'p2', role: 'assistant', part_type: 'text', text: 'world' };
  stub.push(5, 'message.part', { ...event(5, 'message.part'), data: part });
  stub.push(6, 'message.part', { ...event(6, 'message.part'), data: { ...part, part_id: undefined } });
  const r = await run;
  assert.deepEqual(r, {
    code: 1,
    stdout: '[assistant] hello\n[assistant] world\n',
    stderr: unexpected(
      '/api/v1/events/stream: event 6: data.data.part_id: Invalid input: expected string, received undefined',
    ),
  });
  await stream.closed;
});

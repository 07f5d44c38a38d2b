import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { halctl } from './halctl-run.ts';
import {
  event,
  OPERATOR,
  SESSIONS,
  type Stub,
  startStub,
  streamOpenedBy,
  VIEWER,
} from './halctl-stub-server.ts';

let stub: Stub;
before(async () => {
  stub = await startStub();
});
after(() => stub.close());

const as = (token: string, ...args: string[]) =>
  halctl(['--supervisor-url', stub.url, '--auth-token', token, ...args]);

const accepted = { handoff_id: 'ho_1', session: 's1', project: 'alpha', wait_idle_ms: 30_000 };

test('halctl sessions handoff - posts the note and the idle bound with a key, prints the hand-off id; --json the data', async () => {
  stub.answerOnce('/api/v1/sessions/s1/handoff', {
    status: 202,
    body: { data: accepted, meta: { node: 'n1', idempotency_key: 'k1' } },
  });
  const r = await as(
    OPERATOR,
    'sessions',
    'handoff',
    's1',
    '--wait-idle',
    '30',
    '--prompt',
    'Then the docs.',
  );
  assert.deepEqual(r, {
    code: 0,
    stdout: 'ok: hand-off ho_1 of session s1 started on node n1 (waits up to 30 s for idle)\n',
    stderr: '',
  });
  const req = stub.requests.at(-1);
  assert.equal(req?.method, 'POST');
  assert.equal(req?.url, '/api/v1/sessions/s1/handoff');
  assert.deepEqual(req?.body, { prompt: 'Then the docs.', wait_idle_seconds: 30 });
  assert.match(String(req?.headers['idempotency-key']), /^[0-9a-f-]{36}$/);

  stub.answerOnce('/api/v1/sessions/s1/handoff', {
    status: 202,
    body: { data: accepted, meta: { node: 'n1', idempotency_key: 'k1' } },
  });
  const json = await as(OPERATOR, '--json', 'sessions', 'handoff', 's1');
  assert.equal(json.code, 0);
  assert.deepEqual(JSON.parse(json.stdout), { ...accepted, node: 'n1' });
  assert.deepEqual(stub.requests.at(-1)?.body, {});
});

test('halctl sessions handoff - bad arguments are usage errors and send nothing', async () => {
  const before = stub.requests.length;
  const cases: Array<[string[], RegExp]> = [
    [['--wait-idle', '601'], /^halctl: USAGE: --wait-idle Too big: expected number to be <=600/],
    [['--wait-idle', '1.5'], /^halctl: USAGE: --wait-idle must be whole seconds/],
    [['--wait-idle', '-1'], /^halctl: USAGE: --wait-idle Too small/],
    [['--prompt', 'p'.repeat(20_001)], /^halctl: USAGE: --prompt Too big/],
  ];
  for (const [extra, message] of cases) {
    const r = await as(OPERATOR, 'sessions', 'handoff', 's1', ...extra);
    assert.equal(r.code, 2, `${extra.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  const long = await as(OPERATOR, 'sessions', 'handoff', 'x'.repeat(300));
  assert.equal(long.code, 2);
  assert.match(long.stderr, /^halctl: USAGE: session Too big/);
  assert.equal(stub.requests.length, before, 'nothing was sent');
  // A viewer may not hand off: the API's FORBIDDEN, exit 3.
  const viewer = await as(VIEWER, 'sessions', 'handoff', 's1');
  assert.equal(viewer.code, 3);
});

test('halctl sessions handoff --follow - waits for its own outcome: completed exits 0, failed exits 1 naming the stage', async () => {
  const completed = {
    ...event(5, 'handoff.completed'),
    data: { handoff_id: 'ho_1', session: 's9', went_idle: true, waited_ms: 3200 },
  };
  const other = {
    ...event(4, 'handoff.completed'),
    data: { handoff_id: 'ho_other', session: 's8', went_idle: true, waited_ms: 1 },
  };
  stub.answerOnce('/api/v1/sessions/s1/handoff', {
    status: 202,
    body: { data: accepted, meta: { node: 'n1' } },
  });
  const opened = stub.nextStream();
  const run = as(OPERATOR, 'sessions', 'handoff', 's1', '--follow');
  const { request } = await streamOpenedBy(opened, run);
  assert.match(request.url, /^\/api\/v1\/events\/stream\?session=s1&since=/);
  stub.push(4, 'handoff.completed', other);
  stub.push(5, 'handoff.completed', completed);
  const r = await run;
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'ok: hand-off ho_1 of session s1 started on node n1 (waits up to 30 s for idle)\n' +
      'completed: session s1 continues as s9 (stopped after it went idle, 3.2 s)\n',
  );

  const failed = {
    ...event(7, 'handoff.failed'),
    data: {
      handoff_id: 'ho_1',
      stage: 'start_new',
      code: 'OPENCODE_ERROR',
      message: 'opencode answered 500',
      aborted: true,
    },
  };
  stub.answerOnce('/api/v1/sessions/s1/handoff', {
    status: 202,
    body: { data: accepted, meta: { node: 'n1' } },
  });
  const opened2 = stub.nextStream();
  const run2 = as(OPERATOR, 'sessions', 'handoff', 's1', '--follow');
  await streamOpenedBy(opened2, run2);
  stub.push(7, 'handoff.failed', failed);
  const f = await run2;
  assert.equal(f.code, 1);
  assert.equal(
    f.stderr,
    'halctl: OPENCODE_ERROR: hand-off ho_1 failed at start_new: opencode answered 500 (the old session is already stopped)\n',
  );
});

test('halctl status - nodes, sessions by state and the active sessions, host text without escapes; --json for scripts', async () => {
  const hostile = {
    ...SESSIONS[0],
    session: 's3',
    state: 'waiting_input',
    title: 'evil\u001b[2J\u001b]0;owned\u0007 title\nstate: killed',
    state_since: '2026-11-25T09:58:00.000Z',
  };
  const answers = () => {
    stub.answerOnce('/api/v1/fleet/summary', {
      body: {
        data: {
          nodes: { total: 2, online: 1, offline: 1 },
          sessions: {
            total: 3,
            by_state: {
              starting: 0,
              running: 0,
              idle: 2,
              waiting_input: 1,
              compacted: 0,
              error: 0,
              completed: 0,
              killed: 0,
              unreachable: 0,
            },
            active: 3,
          },
        },
        meta: {},
      },
    });
    stub.answerOnce('/api/v1/sessions', { body: { data: [...SESSIONS, hostile], meta: {} } });
  };
  answers();
  const r = await halctl(['--supervisor-url', stub.url, '--auth-token', VIEWER, 'status'], { columns: 100 });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes('\u001b') && !r.stdout.includes('\u0007'), r.stdout);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'nodes: 1 online, 1 offline (2)');
  assert.equal(lines[1], 'sessions: 3 (idle 2, waiting_input 1)');
  assert.match(r.stdout, /\nSESSION\s+NODE\s+PROJECT\s+STATE\s+FOR\s+TASK\n/);
  // Waiting for a person comes first, on one line however many newlines its title has; escape
  // sequences show as \ufffd (halctl's terminal-text).
  const first = lines.findIndex((l) => l.startsWith('SESSION'));
  assert.match(
    lines[first + 1] ?? '',
    /^s3\s+n1\s+alpha\s+waiting_input\s+\d+d\s+evil\ufffd\ufffd title state: killed$/,
  );
  assert.match(lines[first + 2] ?? '', /^s1\s+/);

  answers();
  const json = await as(VIEWER, '--json', 'status');
  assert.equal(json.code, 0);
  const data = JSON.parse(json.stdout) as {
    nodes: unknown[];
    sessions: { total: number };
    active: Array<{ session: string }>;
  };
  assert.equal(data.sessions.total, 3);
  assert.deepEqual(
    data.active.map((s) => s.session),
    ['s3', 's1', 's2'],
  );
});

test('halctl resume - posts to the project with a key and says what happened; a bad project name is a usage error', async () => {
  stub.answerOnce('/api/v1/projects/alpha/resume', {
    body: {
      data: { action: 'started', project: 'alpha', session: 'ses_9', node: 'n1', data: { session: 'ses_9' } },
      meta: { node: 'n1', idempotency_key: 'k' },
    },
  });
  const r = await as(OPERATOR, 'resume', 'alpha', '--idempotency-key', 'resume-alpha-1');
  assert.deepEqual(r, {
    code: 0,
    stdout: 'ok: project alpha started again in new session ses_9 on node n1\n',
    stderr: '',
  });
  const req = stub.requests.at(-1);
  assert.equal(req?.url, '/api/v1/projects/alpha/resume');
  assert.equal(req?.headers['idempotency-key'], 'resume-alpha-1');
  assert.deepEqual(req?.body, {});

  stub.answerOnce('/api/v1/projects/alpha/resume', {
    body: {
      data: { action: 'already_running', project: 'alpha', session: 's1', node: 'n1' },
      meta: { node: 'n1' },
    },
  });
  const json = await as(OPERATOR, '--json', 'resume', 'alpha', '--node', 'n1');
  assert.deepEqual(JSON.parse(json.stdout), {
    action: 'already_running',
    project: 'alpha',
    session: 's1',
    node: 'n1',
  });
  assert.deepEqual(stub.requests.at(-1)?.body, { node: 'n1' });

  const sent = stub.requests.length;
  const bad = await as(OPERATOR, 'resume', 'p'.repeat(300));
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^halctl: USAGE: project Too big/);
  assert.equal(stub.requests.length, sent);
});

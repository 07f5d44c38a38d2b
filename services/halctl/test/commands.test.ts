import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { freePort } from '@hal/testkit';
import { halctl } from './halctl-run.ts';
import { event, OPERATOR, type Stub, startStub, streamOpenedBy, VIEWER } from './halctl-stub-server.ts';

let stub: Stub;
before(async () => {
  stub = await startStub();
});
after(() => stub.close());

const as = (token: string, ...args: string[]) =>
  halctl(['--supervisor-url', stub.url, '--auth-token', token, ...args]);

test('halctl sessions - list prints a table sized to the terminal, --json the raw data', async () => {
  const table = await as(VIEWER, 'sessions', 'list', '--state', 'idle', '--limit', '2');
  assert.equal(table.code, 0);
  assert.equal(table.stderr, '');
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(
    lines[0] ?? '',
    /^SESSION\s+NODE\s+PROJECT\s+STATE\s+TITLE\s+IN\/OUT\s+COST \$\s+LAST ACTIVITY$/,
  );
  for (const line of lines) assert.ok(line.length <= 80, `"${line}" is wider than 80`);
  assert.match(
    lines[1] ?? '',
    /^s1\s+n1\s+alpha\s+idle\s+fix the.*…\s+1200\/340\s+0\.0123\s+2026-11-25 10:00$/,
  );
  assert.equal(lines.at(-1), '(more: --cursor c2)');
  assert.equal(stub.requests.at(-1)?.url, '/api/v1/sessions?state=idle&limit=2');

  const json = await as(VIEWER, '--json', 'sessions', 'list');
  assert.equal(json.code, 0);
  const data = JSON.parse(json.stdout) as Array<{ session: string; title: string }>;
  assert.deepEqual(
    data.map((s) => s.session),
    ['s1', 's2'],
  );
  assert.match(data[0]?.title ?? '', /bounded$/);
});

test('halctl nodes - list shows each node clock skew (host minus control plane); - when not measured', async () => {
  const table = await as(VIEWER, 'nodes', 'list');
  assert.equal(table.code, 0);
  const lines = table.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /\sLAST HEARTBEAT\s+CLOCK SKEW$/);
  assert.deepEqual(
    lines.slice(1).map((l) => [l.split(/\s+/)[0], l.split(/\s+/).at(-1)]),
    [
      ['n-ahead', '+10m0s'],
      ['n-behind', '-1.2s'],
      ['n-new', '-'],
      ['n-old', '-'],
    ],
  );
  const json = await as(VIEWER, '--json', 'nodes', 'list');
  assert.deepEqual(
    (JSON.parse(json.stdout) as Array<{ clock_skew_ms: number | null }>).map((n) => n.clock_skew_ms),
    [600_000, -1_234, null, null],
  );
});

test('halctl exit codes - 3 for 401/403, 4 for not found, 1 for other failures, one line on stderr', async () => {
  const wrong = await as('nope', 'sessions', 'list');
  assert.deepEqual(wrong, { code: 3, stdout: '', stderr: 'halctl: UNAUTHORIZED: invalid bearer token\n' });

  const forbidden = await as(VIEWER, 'sessions', 'kill', 's1');
  assert.deepEqual(forbidden, {
    code: 3,
    stdout: '',
    stderr: 'halctl: FORBIDDEN: POST /api/v1/sessions/s1/kill needs the operator role\n',
  });

  const missing = await as(VIEWER, 'sessions', 'get', 'x');
  assert.deepEqual(missing, {
    code: 4,
    stdout: '',
    stderr: 'halctl: SESSION_NOT_FOUND: session "x" not found\n',
  });

  const offline = await as(OPERATOR, 'sessions', 'kill', 's2');
  assert.deepEqual(offline, { code: 1, stdout: '', stderr: 'halctl: NODE_OFFLINE: node n1 is offline\n' });

  const port = await freePort();
  const down = await halctl([
    '--supervisor-url',
    `http://127.0.0.1:${port}`,
    '--auth-token',
    VIEWER,
    'nodes',
    'list',
  ]);
  assert.deepEqual(down, {
    code: 1,
    stdout: '',
    stderr: `halctl: UNAVAILABLE: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`,
  });
});

test('halctl sessions - actions post the right body; url and token come from HAL_URL/HAL_TOKEN', async () => {
  const env = { HAL_URL: stub.url, HAL_TOKEN: OPERATOR };
  const inject = await halctl(['sessions', 'inject', 's1', 'run the tests'], { env });
  assert.equal(inject.code, 0);
  assert.equal(inject.stdout, 'ok: inject session s1 on node n1 {"accepted":true}\n');
  assert.deepEqual(stub.requests.at(-1)?.body, { prompt: 'run the tests' });
  assert.equal(stub.requests.at(-1)?.headers.authorization, `Bearer ${OPERATOR}`);

  await halctl(['sessions', 'approve', 's1', 'perm1', '--always'], { env });
  assert.equal(stub.requests.at(-1)?.url, '/api/v1/sessions/s1/permissions/perm1');
  assert.deepEqual(stub.requests.at(-1)?.body, { response: 'always' });
  await halctl(['sessions', 'deny', 's1', 'perm1'], { env });
  assert.deepEqual(stub.requests.at(-1)?.body, { response: 'reject' });

  const kill = await halctl(['--json', 'sessions', 'kill', 's1'], { env });
  assert.equal(kill.code, 0);
  assert.deepEqual(JSON.parse(kill.stdout), { accepted: true });
  assert.deepEqual(stub.requests.at(-1)?.body, {});
});

test('halctl events - tail --follow prints recent events then streams from the next sequence', async () => {
  const ac = new AbortController();
  const opened = stub.nextStream();
  const run = halctl(
    [
      '--supervisor-url',
      stub.url,
      '--auth-token',
      VIEWER,
      'events',
      'tail',
      '--follow',
      '--type',
      'session.*',
    ],
    { signal: ac.signal },
  );
  // Once the stream is open, push two live events and end the stream.
  const { request } = await streamOpenedBy(opened, run);
  assert.equal(request.url, '/api/v1/events/stream?type=session.*&after_seq=1');
  stub.push(2, 'session.busy', event(2, 'session.busy'));
  stub.push(3, 'session.idle', event(3, 'session.idle'));
  stub.endStreams();
  const r = await run;
  assert.equal(r.code, 0);
  assert.equal(
    r.stdout,
    [
      '1  2026-11-25T10:00:00.000Z  n1/alpha  s1  session.idle',
      '2  2026-11-25T10:00:00.000Z  n1/alpha  s1  session.busy',
      '3  2026-11-25T10:00:00.000Z  n1/alpha  s1  session.idle',
      '',
    ].join('\n'),
  );
});

test('halctl idempotency - each run sends its own Idempotency-Key, --idempotency-key sets it, a bad one is a usage error', async () => {
  const keyOfLast = () => stub.requests.at(-1)?.headers['idempotency-key'];
  assert.equal((await as(OPERATOR, 'sessions', 'kill', 's1')).code, 0);
  const first = keyOfLast();
  assert.equal((await as(OPERATOR, 'sessions', 'kill', 's1')).code, 0);
  const second = keyOfLast();
  assert.match(String(first), /^[0-9a-f-]{36}$/);
  assert.notEqual(first, second, 'a new key per invocation');

  const keyed = await as(OPERATOR, 'sessions', 'inject', 's1', 'go on', '--idempotency-key', 'retry-42');
  assert.equal(keyed.code, 0, keyed.stderr);
  assert.equal(keyOfLast(), 'retry-42');

  const bad = await as(OPERATOR, 'sessions', 'kill', 's1', '--idempotency-key', 'two words');
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^halctl: USAGE: --idempotency-key must be letters, digits and/);

  // Reads carry no key.
  await as(VIEWER, 'sessions', 'get', 's1');
  assert.equal(keyOfLast(), undefined);
});

test('halctl idempotency - COMMAND_OUTCOME_UNKNOWN says how to retry with the same key', async () => {
  stub.answerOnce('/api/v1/sessions/s1/inject', {
    status: 503,
    body: {
      error: {
        code: 'COMMAND_OUTCOME_UNKNOWN',
        message: 'node "n1" disconnected while the inject command was running; it may have run',
      },
    },
  });
  const r = await as(OPERATOR, 'sessions', 'inject', 's1', 'go on', '--idempotency-key', 'k-7');
  assert.equal(r.code, 1);
  assert.equal(
    r.stderr,
    'halctl: COMMAND_OUTCOME_UNKNOWN: node "n1" disconnected while the inject command was running; it may have run (retry: the same command with --idempotency-key k-7)\n',
  );
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { halctl } from './halctl-run.ts';
// The stub knows no admin token; the operator's stands in (canned answers skip its role checks).
import { OPERATOR as ADMIN, type Stub, startStub, VIEWER } from './halctl-stub-server.ts';

let stub: Stub;
before(async () => {
  stub = await startStub();
});
after(() => stub.close());

const as = (token: string, ...args: string[]) =>
  halctl(['--supervisor-url', stub.url, '--auth-token', token, ...args]);

const view = {
  node: 'build-1',
  status: 'active',
  projects: [
    { name: 'web', directory: '/srv/web' },
    { name: 'api', directory: '/srv/a=b' },
  ],
  enrolled_at: '2026-11-25T10:00:00.000Z',
  enrolled_by: 'ops',
  revoked_at: null,
  revoked_by: null,
};
const TOKEN = `hal_node_${'x'.repeat(43)}`;

test('halctl nodes enroll - sends the projects and rotate, prints the token once with what to do', async () => {
  stub.answerOnce('/api/v1/nodes/build-1/enroll', {
    status: 201,
    body: { data: { ...view, token: TOKEN }, meta: {} },
  });
  const r = await as(
    ADMIN,
    'nodes',
    'enroll',
    'build-1',
    '--project',
    'web=/srv/web',
    '--project',
    'api=/srv/a=b',
  );
  assert.equal(r.code, 0, r.stderr);
  const req = stub.requests.at(-1);
  assert.equal(req?.method, 'POST');
  assert.deepEqual(req?.body, { projects: view.projects, rotate: false });
  assert.equal(
    r.stdout,
    [
      'node:        build-1',
      'projects:    web (/srv/web), api (/srv/a=b)',
      'enrolled at: 2026-11-25T10:00:00.000Z',
      `token:       ${TOKEN}`,
      '',
      'This token is shown once and stored only as a hash. Put it in the agent config now',
      '(auth_token, or a file named by auth_token_file, mode 0600) and restart the agent.',
      '',
    ].join('\n'),
  );

  stub.answerOnce('/api/v1/nodes/build-1/enroll', {
    status: 201,
    body: { data: { ...view, token: TOKEN }, meta: {} },
  });
  const json = await as(ADMIN, '--json', 'nodes', 'enroll', 'build-1', '--rotate');
  assert.deepEqual(stub.requests.at(-1)?.body, { projects: [], rotate: true });
  assert.equal(JSON.parse(json.stdout).token, TOKEN);
});

test('halctl nodes enroll - a project without "=" is a usage error before any request', async () => {
  const before = stub.requests.length;
  const r = await as(ADMIN, 'nodes', 'enroll', 'build-1', '--project', 'web');
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    'halctl: USAGE: --project "web" must be name=directory, like web=/srv/web (see --help)\n',
  );
  assert.equal(stub.requests.length, before);
});

test('halctl nodes revoke and enrollments - print what happened and the list', async () => {
  const revoked = { ...view, status: 'revoked', revoked_at: '2026-11-25T11:00:00.000Z', revoked_by: 'ops' };
  stub.answerOnce('/api/v1/nodes/build-1/revoke', { body: { data: revoked, meta: {} } });
  const r = await as(ADMIN, 'nodes', 'revoke', 'build-1');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    'node build-1 revoked at 2026-11-25T11:00:00.000Z: its agent is disconnected and refused\n',
  );

  stub.answerOnce('/api/v1/enrollments', {
    body: { data: [view, { ...revoked, node: 'old-2', projects: [] }], meta: {} },
  });
  const list = await as(VIEWER, 'nodes', 'enrollments');
  assert.equal(list.code, 0, list.stderr);
  const lines = list.stdout.trimEnd().split('\n');
  assert.match(lines[0] ?? '', /^NODE\s+STATUS\s+PROJECTS\s+ENROLLED\s+REVOKED$/);
  assert.match(lines[1] ?? '', /^build-1\s+active\s+web,api\s+2026-11-25 10:00 by ops\s+-$/);
  assert.match(lines[2] ?? '', /^old-2\s+revoked\s+-\s+2026-11-25 10:00 by ops\s+2026-11-25 11:00$/);
});

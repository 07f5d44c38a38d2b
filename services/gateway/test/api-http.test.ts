import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { auditRecordSchema, StreamName } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { type ApiFixture, bearer, MAX_BODY, NODES, startApiFixture, TOKENS } from './api-stand-ins.ts';

let fx: ApiFixture;
before(async () => {
  fx = await startApiFixture();
});
after(async () => {
  await fx.stop();
});

/** `null` sends no Authorization header at all. */
const get = (url: string, token: string | null = TOKENS.viewer) =>
  fx.api.app.inject({ method: 'GET', url, headers: token === null ? {} : bearer(token) });
const post = (url: string, body: unknown, token: string = TOKENS.operator) =>
  fx.api.app.inject({ method: 'POST', url, headers: bearer(token), payload: body as object });

async function auditCount(): Promise<number> {
  const jsm = await jetstreamClient(fx.nc).jetstreamManager();
  return (await jsm.streams.info(StreamName.AUDIT)).state.messages;
}

test('api auth - no token is 401 UNAUTHORIZED in the envelope', async () => {
  const res = await get('/api/v1/nodes', null);
  assert.equal(res.statusCode, 401);
  assert.deepEqual(res.json(), {
    error: { code: 'UNAUTHORIZED', message: 'missing bearer token (Authorization: Bearer <token>)' },
  });
});

test('api auth - a wrong token is 401 and a token of another length too', async () => {
  for (const token of ['viewer-token-0123456789abcX', 'x']) {
    const res = await get('/api/v1/nodes', token);
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'UNAUTHORIZED');
    assert.equal(res.json().error.message, 'invalid bearer token');
  }
});

test('api auth - health is open, metrics need a token unless public', async () => {
  assert.equal((await get('/healthz', null)).statusCode, 200);
  assert.equal((await get('/readyz', null)).statusCode, 200);
  const closed = await get('/metrics', null);
  assert.equal(closed.statusCode, 401);
  assert.equal(closed.json().error.code, 'UNAUTHORIZED');
  assert.equal((await get('/metrics', TOKENS.viewer)).statusCode, 200);
});

test('api auth - a viewer on a mutating call is 403 FORBIDDEN and nothing is sent', async () => {
  const before = fx.received.length;
  const res = await post('/api/v1/sessions/s1/kill', {}, TOKENS.viewer);
  assert.equal(res.statusCode, 403);
  assert.equal(res.json().error.code, 'FORBIDDEN');
  assert.match(res.json().error.message, /needs the operator role; token "vera" is viewer/);
  assert.equal(fx.received.length, before);
});

test('api nodes - list and get answer from the tracker in the envelope', async () => {
  const list = await get('/api/v1/nodes');
  assert.equal(list.statusCode, 200);
  const body = list.json();
  assert.deepEqual(
    body.data.nodes.map((n: { node: string }) => n.node),
    ['n1', 'n2', 'n3'],
  );
  assert.equal(body.meta.count, 3);
  assert.equal(typeof body.meta.request_id, 'string');
  const one = await get('/api/v1/nodes/n2');
  assert.equal(one.json().data.status, 'offline');
  const missing = await get('/api/v1/nodes/nope');
  assert.equal(missing.statusCode, 404);
  assert.equal(missing.json().error.code, 'NODE_NOT_FOUND');
});

test('api sessions - list paginates with next_cursor, get and logs answer', async () => {
  const first = await get('/api/v1/sessions?limit=2');
  assert.equal(first.statusCode, 200);
  assert.deepEqual(
    first.json().data.map((s: { session: string }) => s.session),
    ['s1', 's2'],
  );
  assert.deepEqual(
    { next_cursor: first.json().meta.next_cursor, total: first.json().meta.total },
    { next_cursor: '2', total: 3 },
  );
  const second = await get('/api/v1/sessions?limit=2&cursor=2');
  assert.deepEqual(
    second.json().data.map((s: { session: string }) => s.session),
    ['s3'],
  );
  assert.equal(second.json().meta.next_cursor, null);
  assert.equal((await get('/api/v1/sessions/s1')).json().data.title, 'title of s1');
  const logs = await get('/api/v1/sessions/s1/logs');
  assert.equal(logs.json().data[0].text, 'hello from the assistant');
});

test('api sessions - unknown session is 404 SESSION_NOT_FOUND on get, logs, events and kill', async () => {
  for (const res of [
    await get('/api/v1/sessions/nope'),
    await get('/api/v1/sessions/nope/logs'),
    await get('/api/v1/sessions/nope/events'),
    await post('/api/v1/sessions/nope/kill', {}),
  ]) {
    assert.equal(res.statusCode, 404);
    assert.deepEqual(res.json(), {
      error: { code: 'SESSION_NOT_FOUND', message: 'no session or project is named "nope"' },
    });
  }
});

test('api validation - bad query, malformed body and unknown keys are 400 VALIDATION_FAILED with the path', async () => {
  const badQuery = await get('/api/v1/sessions?limit=0');
  assert.equal(badQuery.statusCode, 400);
  assert.equal(badQuery.json().error.code, 'VALIDATION_FAILED');
  assert.equal(badQuery.json().error.details.issues[0].path, 'limit');

  const badState = await get('/api/v1/sessions?state=sleeping');
  assert.equal(badState.json().error.details.issues[0].path, 'state');

  const missingPrompt = await post('/api/v1/sessions/s1/inject', { promt: 'typo' });
  assert.equal(missingPrompt.statusCode, 400);
  const paths = missingPrompt.json().error.details.issues.map((i: { path: string }) => i.path);
  assert.ok(paths.includes('prompt'), `paths: ${paths}`);
  assert.match(missingPrompt.json().error.message, /^invalid request body: /);

  const badJson = await fx.api.app.inject({
    method: 'POST',
    url: '/api/v1/sessions/s1/inject',
    headers: { ...bearer(TOKENS.operator), 'content-type': 'application/json' },
    payload: '{"prompt": ',
  });
  assert.equal(badJson.statusCode, 400);
  assert.equal(badJson.json().error.code, 'VALIDATION_FAILED');
  assert.match(badJson.json().error.message, /^invalid JSON body/);

  const badResponse = await post('/api/v1/sessions/s1/permissions/perm1', { response: 'maybe' });
  assert.equal(badResponse.statusCode, 400);
  assert.equal(badResponse.json().error.details.issues[0].path, 'response');
});

test('api validation - a body over max_body_bytes is 413 PAYLOAD_TOO_LARGE', async () => {
  const before = fx.received.length;
  const res = await post('/api/v1/sessions/s1/inject', { prompt: 'x'.repeat(MAX_BODY * 2) });
  assert.equal(res.statusCode, 413);
  assert.equal(res.json().error.code, 'PAYLOAD_TOO_LARGE');
  assert.equal(fx.received.length, before);
});

test('api routes - an unknown route is 404 NOT_FOUND in the envelope', async () => {
  const res = await get('/api/v1/nothing-here');
  assert.equal(res.statusCode, 404);
  assert.deepEqual(res.json(), {
    error: { code: 'NOT_FOUND', message: 'no route GET /api/v1/nothing-here' },
  });
});

test('api commands - operator kill reaches the node with the actor and is audited', async () => {
  const auditBefore = await auditCount();
  const res = await post('/api/v1/sessions/s1/kill', {});
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json().data, { accepted: true, type: 'kill' });
  assert.equal(res.json().meta.node, 'n1');
  const sent = fx.received.at(-1);
  assert.deepEqual(sent?.command, { type: 'kill', session: 's1' });
  assert.deepEqual(sent?.actor, { kind: 'user', id: 'otto' });

  await waitFor(async () => (await auditCount()) > auditBefore, { timeoutMs: 5_000 });
  const audit = await get('/api/v1/audit?limit=1&action=session.kill');
  assert.equal(audit.statusCode, 200);
  const record = auditRecordSchema.parse(audit.json().data[0]);
  assert.deepEqual(record.actor, { kind: 'user', id: 'otto' });
  assert.equal(record.action, 'session.kill');
  assert.deepEqual(record.target, { session: 's1', node: 'n1', project: 'alpha' });
  assert.deepEqual(record.result, { ok: true });
});

test('api commands - inject, permissions and start send the right command; prompts are truncated in audit', async () => {
  const long = 'p'.repeat(500);
  assert.equal((await post('/api/v1/sessions/s1/inject', { prompt: long })).statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'inject', session: 's1', prompt: long });

  const perm = await post('/api/v1/sessions/s1/permissions/perm1', { response: 'always' });
  assert.equal(perm.statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, {
    type: 'permission',
    session: 's1',
    permission_id: 'perm1',
    response: 'always',
  });

  const started = await post('/api/v1/sessions', { project: 'alpha', prompt: 'go' });
  assert.equal(started.statusCode, 201);
  // n1 has fewer sessions than n3, so it is chosen.
  assert.equal(started.json().meta.node, 'n1');
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'start', project: 'alpha', prompt: 'go' });

  const audit = await get('/api/v1/audit?action=session.inject&limit=1');
  const params = audit.json().data[0].params as { prompt: string };
  assert.equal(params.prompt, `${'p'.repeat(200)}…`);
});

test('api idempotency - Idempotency-Key travels in the command and is echoed; without one the API makes one; a bad one is 400', async () => {
  const keyed = await fx.api.app.inject({
    method: 'POST',
    url: '/api/v1/sessions/s1/kill',
    headers: { ...bearer(TOKENS.operator), 'idempotency-key': '"kill-s1-1"' },
    payload: {},
  });
  assert.equal(keyed.statusCode, 200);
  assert.equal(keyed.json().meta.idempotency_key, 'kill-s1-1');
  assert.equal(fx.received.at(-1)?.idempotency_key, 'kill-s1-1');

  const unkeyed = await post('/api/v1/sessions/s1/resume', {});
  const made = unkeyed.json().meta.idempotency_key as string;
  assert.match(made, /^[0-9a-f-]{36}$/);
  assert.equal(fx.received.at(-1)?.idempotency_key, made);

  const before = fx.received.length;
  for (const bad of ['two words', 'k'.repeat(129), '']) {
    const res = await fx.api.app.inject({
      method: 'POST',
      url: '/api/v1/sessions/s1/kill',
      headers: { ...bearer(TOKENS.operator), 'idempotency-key': bad },
      payload: {},
    });
    assert.equal(res.statusCode, 400, bad);
    assert.equal(res.json().error.code, 'VALIDATION_FAILED');
    assert.match(res.json().error.message, /^header Idempotency-Key /);
  }
  assert.equal(fx.received.length, before, 'nothing sent for a bad key');
});

test('api idempotency - a keyed start goes to the node its first attempt chose, even when another becomes less busy', async () => {
  const start = (key: string) =>
    fx.api.app.inject({
      method: 'POST',
      url: '/api/v1/sessions',
      headers: { ...bearer(TOKENS.operator), 'idempotency-key': key },
      payload: { project: 'alpha', timeout_ms: 300 },
    });
  const first = await start('start-once');
  assert.equal(first.statusCode, 201);
  assert.equal(first.json().meta.node, 'n1');
  const n1 = NODES.find((n) => n.node === 'n1');
  assert.ok(n1);
  const sessions = n1.sessions;
  n1.sessions = 50;
  try {
    const retry = await start('start-once');
    assert.equal(retry.statusCode, 201, 'the retry goes where the first attempt went');
    assert.equal(retry.json().meta.node, 'n1');
    assert.equal(fx.received.at(-1)?.idempotency_key, 'start-once');
    // A new key is a new start: the least busy node now (n3, which never answers).
    const other = await start('start-twice');
    assert.equal(other.statusCode, 504);
  } finally {
    n1.sessions = sessions;
  }
});

test('api commands - start with an unknown project is 404 PROJECT_NOT_FOUND, an offline-only project 503 NODE_OFFLINE', async () => {
  const unknown = await post('/api/v1/sessions', { project: 'gamma' });
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.code, 'PROJECT_NOT_FOUND');
  const offline = await post('/api/v1/sessions', { project: 'beta' });
  assert.equal(offline.statusCode, 503);
  assert.deepEqual(offline.json().error, {
    code: 'NODE_OFFLINE',
    message: 'every node with project "beta" is offline (n2)',
  });
});

test('api commands - a session on an offline node is 503 NODE_OFFLINE, a silent node 504 TIMEOUT; both audited', async () => {
  const offline = await post('/api/v1/sessions/s2/kill', {});
  assert.equal(offline.statusCode, 503);
  assert.deepEqual(offline.json().error, { code: 'NODE_OFFLINE', message: 'node n2 is offline' });

  const slow = await post('/api/v1/sessions/s3/restart', { timeout_ms: 200 });
  assert.equal(slow.statusCode, 504);
  assert.equal(slow.json().error.code, 'TIMEOUT');
  assert.equal(slow.json().error.message, 'node n3 did not answer the restart command in 200 ms');

  const audit = await get('/api/v1/audit?limit=2', TOKENS.admin);
  const [restart, kill] = audit.json().data;
  assert.equal(restart.action, 'session.restart');
  assert.deepEqual(restart.result, { ok: false, code: 'TIMEOUT' });
  assert.deepEqual(restart.target, { session: 's3', node: 'n3', project: 'alpha' });
  assert.equal(kill.action, 'session.kill');
  assert.deepEqual(kill.result, { ok: false, code: 'NODE_OFFLINE' });
});

test('api audit - a read leaves no consumer on HAL_AUDIT behind (each window deleted, not left to expire)', async () => {
  const jsm = await jetstreamClient(fx.nc).jetstreamManager();
  const consumersOnAudit = async () => {
    const names: string[] = [];
    for await (const ci of jsm.consumers.list(StreamName.AUDIT)) names.push(ci.name);
    return names;
  };
  assert.ok((await auditCount()) > 0, 'earlier tests left audit records to read');
  // Filtered reads scan window after window: each window is a consumer of its own.
  for (const url of ['/api/v1/audit?limit=5', '/api/v1/audit?limit=50&action=session.kill']) {
    const res = await get(url, TOKENS.admin);
    assert.equal(res.statusCode, 200, url);
  }
  assert.deepEqual(await consumersOnAudit(), []);
});

test('api openapi - the document lists every route with its method', async () => {
  const res = await get('/api/openapi.json');
  assert.equal(res.statusCode, 200);
  const doc = res.json();
  assert.equal(doc.openapi, '3.1.0');
  const listed = Object.entries(doc.paths as Record<string, Record<string, unknown>>)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`))
    .sort();
  // Other areas (policies, cost) add routes to the same table; these are this module's.
  const expected = [
    'GET /api/openapi.json',
    'GET /api/v1/audit',
    'GET /api/v1/enrollments',
    'GET /api/v1/events',
    'GET /api/v1/events/stream',
    'GET /api/v1/fleet/summary',
    'GET /api/v1/me',
    'GET /api/v1/nodes',
    'GET /api/v1/nodes/{id}',
    'GET /api/v1/sessions',
    'GET /api/v1/sessions/{id}',
    'GET /api/v1/sessions/{id}/events',
    'GET /api/v1/sessions/{id}/logs',
    'POST /api/v1/nodes/{id}/enroll',
    'POST /api/v1/nodes/{id}/revoke',
    'POST /api/v1/sessions',
    'POST /api/v1/sessions/{id}/inject',
    'POST /api/v1/sessions/{id}/kill',
    'POST /api/v1/sessions/{id}/permissions/{permissionId}',
    'POST /api/v1/sessions/{id}/restart',
    'POST /api/v1/sessions/{id}/resume',
    'POST /api/v1/sessions/{id}/handoff',
    'POST /api/v1/projects/{project}/resume',
  ];
  for (const route of expected)
    assert.ok(listed.includes(route), `${route} missing from ${listed.join(', ')}`);
  // …and every documented route really is registered.
  for (const route of listed) {
    const [method, path] = route.split(' ') as ['GET' | 'POST', string];
    assert.ok(fx.api.app.hasRoute({ method, url: path.replace(/\{(\w+)\}/g, ':$1') }), route);
  }
  const inject = doc.paths['/api/v1/sessions/{id}/inject'].post;
  assert.deepEqual(inject.requestBody.content['application/json'].schema.required, ['prompt']);
  assert.equal(inject.requestBody.content['application/json'].schema.additionalProperties, false);
  const listParams = doc.paths['/api/v1/sessions'].get.parameters.map((p: { name: string }) => p.name);
  assert.deepEqual(listParams, ['node', 'project', 'state', 'q', 'limit', 'cursor']);
});

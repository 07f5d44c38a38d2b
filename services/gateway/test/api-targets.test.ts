import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SessionView } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { type ApiFixture, bearer, SESSIONS, session, startApiFixture, TOKENS } from './api-stand-ins.ts';

// A project name works wherever the API names a session, as in Discord (issue 11): its most
// recently active live session; several busy ones are TARGET_AMBIGUOUS with the candidates.
const at = (s: SessionView, state: SessionView['state'], last: string): SessionView => ({
  ...s,
  state,
  last_activity_at: last,
});
const KOREAN = '웹사이트';
const sessions: SessionView[] = [
  ...SESSIONS,
  at(session('g-old', 'n1', 'gamma'), 'idle', '2026-11-25T10:00:00.000Z'),
  at(session('g-new', 'n1', 'gamma'), 'error', '2026-11-25T12:00:00.000Z'),
  at(session('g-done', 'n1', 'gamma'), 'completed', '2026-11-25T13:00:00.000Z'),
  at(session('d1', 'n1', 'delta'), 'running', '2026-11-25T10:00:00.000Z'),
  at(session('d2', 'n1', 'delta'), 'waiting_input', '2026-11-25T11:00:00.000Z'),
  at(session('e1', 'n1', 'epsilon'), 'killed', '2026-11-25T11:00:00.000Z'),
  at(session('k1', 'n1', KOREAN), 'idle', '2026-11-25T11:00:00.000Z'),
];

let fx: ApiFixture;
before(async () => {
  fx = await startApiFixture({ sessions });
});
after(async () => {
  await fx.stop();
});

const get = (url: string) => fx.api.app.inject({ method: 'GET', url, headers: bearer(TOKENS.viewer) });
const post = (url: string, body: unknown = {}) =>
  fx.api.app.inject({ method: 'POST', url, headers: bearer(TOKENS.operator), payload: body as object });

async function lastAudit(action: string) {
  const res = await fx.api.app.inject({
    method: 'GET',
    url: `/api/v1/audit?limit=1&action=${action}`,
    headers: bearer(TOKENS.admin),
  });
  return res.json().data[0] as
    | {
        target: Record<string, string>;
        params: Record<string, unknown>;
        result: { ok: boolean; code?: string };
      }
    | undefined;
}

test('api targets - a project name kills its most recently active live session, audited with both names', async () => {
  const res = await post('/api/v1/sessions/gamma/kill');
  assert.equal(res.statusCode, 200, res.body);
  assert.equal(res.json().meta.session, 'g-new');
  assert.equal(res.json().meta.node, 'n1');
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'kill', session: 'g-new' });
  const record = await waitFor(async () => {
    const r = await lastAudit('session.kill');
    return r?.target.session === 'g-new' ? r : undefined;
  });
  assert.deepEqual(record.target, { session: 'g-new', node: 'n1', project: 'gamma' });
  assert.equal(record.params.target, 'gamma');
  assert.deepEqual(record.result, { ok: true });
});

test('api targets - inject, resume, restart and a permission answer take a project name too', async () => {
  assert.equal((await post('/api/v1/sessions/gamma/inject', { prompt: 'go on' })).statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'inject', session: 'g-new', prompt: 'go on' });
  assert.equal((await post('/api/v1/sessions/gamma/resume')).statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'resume', session: 'g-new' });
  assert.equal((await post('/api/v1/sessions/gamma/restart')).statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'restart', session: 'g-new' });
  const perm = await post('/api/v1/sessions/gamma/permissions/perm9', { response: 'once' });
  assert.equal(perm.statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, {
    type: 'permission',
    session: 'g-new',
    permission_id: 'perm9',
    response: 'once',
  });
});

test('api targets - a Unicode project name, percent-encoded in the path, resolves', async () => {
  const res = await post(`/api/v1/sessions/${encodeURIComponent(KOREAN)}/resume`);
  assert.equal(res.statusCode, 200, res.body);
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'resume', session: 'k1' });
  const view = await get(`/api/v1/sessions/${encodeURIComponent(KOREAN)}`);
  assert.equal(view.json().data.session, 'k1');
});

test('api targets - several busy sessions are 409 TARGET_AMBIGUOUS listing them; nothing is sent; the refusal is audited', async () => {
  const before = fx.received.length;
  const res = await post('/api/v1/sessions/delta/kill');
  assert.equal(res.statusCode, 409);
  const error = res.json().error as {
    code: string;
    message: string;
    details: { candidates: Array<{ session: string; node: string; state: string }> };
  };
  assert.equal(error.code, 'TARGET_AMBIGUOUS');
  assert.equal(error.message, 'project "delta" has 2 busy sessions; name one of them: d2, d1');
  assert.deepEqual(
    error.details.candidates.map((c) => [c.session, c.node, c.state]),
    [
      ['d2', 'n1', 'waiting_input'],
      ['d1', 'n1', 'running'],
    ],
  );
  assert.equal(fx.received.length, before);
  const record = await waitFor(async () => {
    const r = await lastAudit('session.kill');
    return r?.result.code === 'TARGET_AMBIGUOUS' ? r : undefined;
  });
  assert.equal(record.target.session, 'delta');
  // Naming the session itself still works.
  assert.equal((await post('/api/v1/sessions/d1/kill')).statusCode, 200);
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'kill', session: 'd1' });
});

test('api targets - reads (session, logs, events) take a project name; an ambiguous one is 409 there too', async () => {
  const view = await get('/api/v1/sessions/gamma');
  assert.equal(view.statusCode, 200);
  assert.equal(view.json().data.session, 'g-new');
  const logs = await get('/api/v1/sessions/gamma/logs');
  assert.equal(logs.statusCode, 200);
  assert.equal(logs.json().data[0].text, 'hello from the assistant');
  assert.equal((await get('/api/v1/sessions/gamma/events')).statusCode, 200);
  assert.equal((await get('/api/v1/sessions/delta')).json().error.code, 'TARGET_AMBIGUOUS');
  assert.equal((await get('/api/v1/sessions/s1')).json().data.session, 's1');
});

test('api targets - a project with no live session, or no such name, is 404 SESSION_NOT_FOUND saying which', async () => {
  const dead = await post('/api/v1/sessions/epsilon/resume');
  assert.equal(dead.statusCode, 404);
  assert.deepEqual(dead.json().error, {
    code: 'SESSION_NOT_FOUND',
    message: 'project "epsilon" has no live session (all completed or killed)',
  });
  const none = await get('/api/v1/sessions/nothing-here');
  assert.equal(none.statusCode, 404);
  assert.deepEqual(none.json().error, {
    code: 'SESSION_NOT_FOUND',
    message: 'no session or project is named "nothing-here"',
  });
});

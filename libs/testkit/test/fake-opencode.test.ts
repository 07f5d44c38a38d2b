import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectSse, startFakeOpencode, waitFor } from '@hal/testkit';

interface OcEvent {
  type: string;
  properties: Record<string, unknown>;
}

const DIR = '/tmp/fake-project';
const q = `?directory=${encodeURIComponent(DIR)}`;

async function post(url: string, body?: unknown): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

test('fake-opencode - sessions, prompt, permission and abort follow the real shapes', async (t) => {
  const oc = await startFakeOpencode();
  t.after(() => oc.stop());
  const events = await collectSse<OcEvent>(`${oc.url}/event${q}`);
  t.after(() => events.close());
  await events.next((e) => e.type === 'server.connected');

  const session = (await (await post(`${oc.url}/session${q}`, { title: 'f' })).json()) as { id: string };
  assert.match(session.id, /^ses_/);
  assert.equal(
    (
      await post(`${oc.url}/session/${session.id}/prompt_async${q}`, {
        parts: [{ type: 'text', text: 'hi' }],
      })
    ).status,
    204,
  );
  await events.next((e) => e.type === 'session.idle' && e.properties.sessionID === session.id);
  const msgs = (await (await fetch(`${oc.url}/session/${session.id}/message${q}`)).json()) as Array<{
    info: { role: string };
  }>;
  assert.deepEqual(
    msgs.map((m) => m.info.role),
    ['user', 'assistant'],
  );

  const perm = oc.askPermission(session.id);
  assert.deepEqual(
    ((await (await fetch(`${oc.url}/permission${q}`)).json()) as Array<{ id: string }>).map((p) => p.id),
    [perm.id],
  );
  const bad = await post(`${oc.url}/permission/${perm.id}/reply${q}`, { reply: 'maybe' });
  assert.equal(bad.status, 400);
  assert.equal((await post(`${oc.url}/permission/${perm.id}/reply${q}`, { reply: 'once' })).status, 200);
  await events.next((e) => e.type === 'permission.replied' && e.properties.requestID === perm.id);
  const gone = await post(`${oc.url}/permission/${perm.id}/reply${q}`, { reply: 'once' });
  assert.equal(gone.status, 404);

  const missing = await fetch(`${oc.url}/session/ses_nope${q}`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    name: 'NotFoundError',
    data: { message: 'Session not found: ses_nope' },
  });
  assert.equal((await post(`${oc.url}/session/${session.id}/prompt_async${q}`, { nope: 1 })).status, 400);
});

test('fake-opencode - dropSse closes streams, failNext answers 5xx, emit reaches /event and /global/event', async (t) => {
  const oc = await startFakeOpencode();
  t.after(() => oc.stop());
  const local = await collectSse<OcEvent>(`${oc.url}/event${q}`);
  const global = await collectSse<{ directory?: string; payload: OcEvent }>(`${oc.url}/global/event`);
  t.after(() => {
    local.close();
    global.close();
  });
  await local.next((e) => e.type === 'server.connected');
  await global.next((e) => e.payload.type === 'server.connected');

  oc.emit(DIR, { type: 'todo.updated', properties: { sessionID: 'ses_x', todos: [] } });
  const seen = await local.next((e) => e.type === 'todo.updated');
  assert.match(String((seen as OcEvent & { id: string }).id), /^evt_/);
  const wrapped = await global.next((e) => e.payload.type === 'todo.updated');
  assert.equal(wrapped.directory, DIR);

  assert.equal(oc.sseClients(), 2);
  oc.dropSse();
  await waitFor(() => local.ended && global.ended, { timeoutMs: 2000, message: 'SSE streams still open' });
  assert.equal(oc.sseClients(), 0);

  oc.failNext(2, 503);
  assert.equal((await fetch(`${oc.url}/global/health`)).status, 503);
  const failedSse = await fetch(`${oc.url}/event${q}`);
  assert.equal(failedSse.status, 503);
  assert.deepEqual(await failedSse.json(), { name: 'UnknownError', data: { message: 'injected failure' } });
  assert.equal((await fetch(`${oc.url}/global/health`)).status, 200);
});

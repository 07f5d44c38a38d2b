import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { test } from 'node:test';
import { collectSse, startOpencode, startScriptedLlm } from '@hal/testkit';

interface OcEvent {
  type: string;
  properties: Record<string, unknown> & { sessionID?: string };
}

interface AssistantInfo {
  role: string;
  tokens: { input: number; output: number; cache: { read: number } };
  time: { completed?: number };
}

// One real opencode for the whole file: it takes ~800 MB and seconds to start.
test('opencode - a real opencode serve runs a prompt against the scripted LLM', async (t) => {
  const llm = await startScriptedLlm();
  t.after(() => llm.stop());
  const oc = await startOpencode({ llm, projects: [{ name: 'alpha' }] });
  t.after(() => oc.stop());
  const project = oc.projects[0];
  assert.ok(project);
  const dir = encodeURIComponent(project.directory);
  assert.deepEqual(await (await fetch(`${oc.url}/global/health`)).json(), {
    healthy: true,
    version: '1.18.33',
  });

  const events = await collectSse<OcEvent>(`${oc.url}/event?directory=${dir}`);
  t.after(() => events.close());
  await events.next((e) => e.type === 'server.connected');

  const created = await fetch(`${oc.url}/session?directory=${dir}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'smoke' }),
  });
  assert.equal(created.status, 200);
  const session = (await created.json()) as { id: string; directory: string };
  assert.match(session.id, /^ses_/);
  assert.equal(session.directory, project.directory);

  llm.script({ text: 'Smoke reply.', usage: { prompt_tokens: 321, completion_tokens: 12 } });
  const prompt = await fetch(`${oc.url}/session/${session.id}/prompt_async?directory=${dir}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ parts: [{ type: 'text', text: 'smoke prompt' }] }),
  });
  assert.equal(prompt.status, 204);

  await events.next((e) => e.type === 'session.idle' && e.properties.sessionID === session.id, 60_000);
  const completed = events.events
    .filter((e) => e.type === 'message.updated')
    .map((e) => e.properties.info as AssistantInfo)
    .filter((i) => i.role === 'assistant' && i.time.completed !== undefined);
  assert.equal(completed.length, 1);
  assert.equal(completed[0]?.tokens.input, 321);
  assert.equal(completed[0]?.tokens.output, 12);
  assert.equal(llm.chatRequests('smoke prompt').length, 1);

  const missing = await fetch(`${oc.url}/session/ses_nope?directory=${dir}`);
  assert.equal(missing.status, 404);
  assert.deepEqual(await missing.json(), {
    name: 'NotFoundError',
    data: { message: 'Session not found: ses_nope' },
  });

  // crash and restart on the same port and HOME: the session survives (opencode keeps it in SQLite)
  const firstPid = oc.pid;
  oc.kill('SIGKILL');
  await oc.restart();
  assert.notEqual(oc.pid, firstPid);
  const listed = (await (await fetch(`${oc.url}/session?directory=${dir}`)).json()) as Array<{ id: string }>;
  assert.deepEqual(
    listed.map((s) => s.id),
    [session.id],
  );

  const pid = oc.pid;
  const home = oc.home;
  await oc.stop();
  assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
  assert.equal(existsSync(home), false);
});

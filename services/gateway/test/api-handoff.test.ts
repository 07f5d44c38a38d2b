import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { AuditRecord, CommandRequest } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { type ApiFixture, bearer, SESSIONS, session, startApiFixture, TOKENS } from './api-stand-ins.ts';

// The hand-off and project-resume routes over real NATS, with stand-ins for the tracker and for
// n1's agent (the agent side and the real session are tested with a real opencode elsewhere).
const fixtures: ApiFixture[] = [];
after(async () => {
  await Promise.all(fixtures.map((f) => f.stop()));
});

function answer(req: CommandRequest): unknown {
  switch (req.command.type) {
    case 'handoff':
      return {
        handoff_id: 'ho_abc',
        session: req.command.session,
        project: 'alpha',
        wait_idle_ms: req.command.wait_idle_ms ?? 60_000,
      };
    case 'start':
      return { session: 'ses_new', project: req.command.project, prompted: true };
    default:
      return {
        session: 'command' in req ? (req.command as { session?: string }).session : undefined,
        resumed: true,
      };
  }
}

async function fixture(sessions = SESSIONS): Promise<ApiFixture> {
  const fx = await startApiFixture({ sessions, agentAnswer: answer });
  fixtures.push(fx);
  return fx;
}

const post = (fx: ApiFixture, url: string, body: unknown, token: string = TOKENS.operator, key?: string) =>
  fx.api.app.inject({
    method: 'POST',
    url,
    headers: { ...bearer(token), ...(key === undefined ? {} : { 'idempotency-key': key }) },
    payload: body as object,
  });

async function auditOf(fx: ApiFixture, action: string) {
  return waitFor(
    async () => {
      const res = await fx.api.app.inject({
        method: 'GET',
        url: '/api/v1/audit?limit=20',
        headers: bearer(TOKENS.admin),
      });
      const found = (res.json().data as AuditRecord[]).filter((a) => a.action === action);
      return found.length > 0 ? found : undefined;
    },
    { timeoutMs: 5_000, message: `audit record ${action}` },
  );
}

test('api handoff - 202 with the hand-off id at once; the agent gets a handoff command with the bound in ms and the key; audited with the actor', async () => {
  const fx = await fixture();
  const res = await post(
    fx,
    '/api/v1/sessions/s1/handoff',
    { prompt: 'Then the docs.', wait_idle_seconds: 5 },
    TOKENS.operator,
    'ho-key-1',
  );
  assert.equal(res.statusCode, 202, res.body);
  assert.deepEqual(res.json().data, {
    handoff_id: 'ho_abc',
    session: 's1',
    project: 'alpha',
    wait_idle_ms: 5_000,
  });
  assert.equal(res.json().meta.node, 'n1');
  assert.equal(res.json().meta.idempotency_key, 'ho-key-1');
  const sent = fx.received.at(-1);
  assert.deepEqual(sent?.command, {
    type: 'handoff',
    session: 's1',
    prompt: 'Then the docs.',
    wait_idle_ms: 5_000,
  });
  assert.equal(sent?.idempotency_key, 'ho-key-1');
  assert.deepEqual(sent?.actor, { kind: 'user', id: 'otto' });
  const [record] = await auditOf(fx, 'session.handoff');
  assert.equal(record?.actor.id, 'otto');
  assert.deepEqual(record?.target, { session: 's1', node: 'n1', project: 'alpha' });
  assert.deepEqual(record?.result, { ok: true });
});

test('api handoff - bad bodies are 400 with the key path; a viewer is 403; nothing reaches the agent', async () => {
  const fx = await fixture();
  const cases: Array<[unknown, string]> = [
    [{ wait_idle_seconds: 601 }, 'wait_idle_seconds'],
    [{ wait_idle_seconds: 1.5 }, 'wait_idle_seconds'],
    [{ prompt: 'p'.repeat(20_001) }, 'prompt'],
    [{ prompt: '' }, 'prompt'],
    [{ extra: true }, ''],
  ];
  for (const [body, path] of cases) {
    const res = await post(fx, '/api/v1/sessions/s1/handoff', body);
    // A 20 KB prompt is over the API's body limit in this fixture: 413 is as good a refusal.
    assert.ok([400, 413].includes(res.statusCode), `${JSON.stringify(body).slice(0, 60)}: ${res.statusCode}`);
    if (res.statusCode === 400) {
      assert.equal(res.json().error.code, 'VALIDATION_FAILED');
      assert.ok(res.json().error.message.includes(path), res.json().error.message);
    }
  }
  const viewer = await post(fx, '/api/v1/sessions/s1/handoff', {}, TOKENS.viewer);
  assert.equal(viewer.statusCode, 403);
  const unknown = await post(fx, '/api/v1/sessions/nope/handoff', {});
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.code, 'SESSION_NOT_FOUND');
  assert.equal(fx.received.length, 0);
});

test('api resume project - an idle session is resumed; with none live a session starts that reads .context; busy means nothing sent', async () => {
  const fx = await fixture();
  const resumed = await post(fx, '/api/v1/projects/alpha/resume', {}, TOKENS.operator, 'resume-1');
  assert.equal(resumed.statusCode, 200, resumed.body);
  assert.equal(resumed.json().data.action, 'resumed');
  assert.equal(resumed.json().data.session, 's1');
  assert.deepEqual(fx.received.at(-1)?.command, { type: 'resume', session: 's1' });
  assert.equal(fx.received.at(-1)?.idempotency_key, 'resume-1');
  const [record] = await auditOf(fx, 'project.resume');
  assert.deepEqual(record?.target, { project: 'alpha', session: 's1', node: 'n1' });

  const empty = await fixture([]);
  const started = await post(
    empty,
    '/api/v1/projects/alpha/resume',
    { prompt: 'Mind the tests.' },
    TOKENS.operator,
    'resume-2',
  );
  assert.equal(started.statusCode, 200, started.body);
  assert.deepEqual(
    { ...started.json().data, data: undefined },
    { action: 'started', project: 'alpha', session: 'ses_new', node: 'n1', data: undefined },
  );
  const cmd = empty.received.at(-1)?.command as { type: string; prompt: string; title: string };
  assert.equal(cmd.type, 'start');
  assert.match(
    cmd.prompt,
    /^Continue the work on project "alpha"\.\n\nBefore anything else, read \.context\/PROGRESS\.md and \.context\/CURRENT_TASK\.md/,
  );
  assert.ok(cmd.prompt.endsWith('\n\nMind the tests.'));
  assert.equal(empty.received.at(-1)?.idempotency_key, 'resume-2');

  const busy = await fixture([{ ...session('s7', 'n1', 'alpha'), state: 'running' }]);
  const none = await post(busy, '/api/v1/projects/alpha/resume', {});
  assert.equal(none.json().data.action, 'already_running');
  assert.equal(none.json().data.session, 's7');
  assert.equal(busy.received.length, 0);

  const unknown = await post(empty, '/api/v1/projects/gamma/resume', {});
  assert.equal(unknown.statusCode, 404);
  assert.equal(unknown.json().error.code, 'PROJECT_NOT_FOUND');
  const bad = await post(empty, `/api/v1/projects/${'p'.repeat(300)}/resume`, {});
  assert.equal(bad.statusCode, 400);
  assert.equal(bad.json().error.code, 'VALIDATION_FAILED');
});

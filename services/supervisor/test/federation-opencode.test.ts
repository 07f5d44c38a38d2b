import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EventRecord, LogEntry, SessionView } from '@hal/protocol';
import { startOpencode, startScriptedLlm, waitFor } from '@hal/testkit';
import { startAgentProcess } from './agent-process.ts';
import { TOKEN } from './cluster-harness.ts';
import { startFederation } from './federation-harness.ts';

const LLM_TURN_MS = 45_000;

// Issue 13's acceptance "a session started in region B from the API in region A runs there and
// its events are visible in A", on the real stack: the two regions of docs/DEPLOYMENT.md §5
// (federation-harness.ts), the control plane in region A, and in region B a host running the
// hal-agent bin as its own process beside a real `opencode serve` on the testkit's scripted LLM,
// connected to region B's hal-gateway only. Nothing of region B talks to region A but NATS.
test('federation - a session started on a host in region B from the API of region A runs in opencode there; its events, tokens and answer are visible in region A, and an inject reaches it', {
  timeout: 240_000,
}, async (t) => {
  const llm = await startScriptedLlm();
  t.after(() => llm.stop());
  const fed = await startFederation();
  t.after(() => fed.close());
  const opencode = await startOpencode({ llm, projects: [{ name: 'app' }] });
  fed.defer(() => opencode.stop());
  const agent = await startAgentProcess({
    node: 'host-b',
    supervisorUrl: fed.gatewayB.wsUrl,
    token: TOKEN,
    opencodeUrl: opencode.url,
    projects: opencode.projects,
    dir: fed.dir,
  });
  fed.defer(() => agent.stop());
  const { stack } = fed;
  await waitFor(
    async () => {
      const r = await stack.api<{ data: { status: string } }>('/api/v1/nodes/host-b');
      return r.status === 200 && r.body.data.status === 'online';
    },
    { timeoutMs: 30_000, message: 'host-b (region B) online in the API of region A' },
  );

  // Started from region A's API: the command crosses the supercluster to region B's gateway.
  const prompt = `Write the region B report ${crypto.randomUUID()}`;
  llm.script({ text: 'Report written in region B.', usage: { prompt_tokens: 800, completion_tokens: 45 } });
  const started = await stack.api<{ data: { session: string }; meta: { node: string } }>('/api/v1/sessions', {
    project: 'app',
    node: 'host-b',
    prompt,
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  assert.equal(started.body.meta.node, 'host-b');
  const session = started.body.data.session;

  /** The session's events as region A's API answers them, once `done` holds for them. */
  const eventsInA = async (done: (events: EventRecord[]) => boolean, message: string) => {
    let seen: EventRecord[] = [];
    try {
      return await waitFor(
        async () => {
          const r = await stack.api<{ data: EventRecord[] }>(`/api/v1/sessions/${session}/events?limit=1000`);
          if (r.status === 200) seen = r.body.data;
          return r.status === 200 && done(seen) ? seen : undefined;
        },
        { timeoutMs: LLM_TURN_MS, message },
      );
    } catch (err) {
      throw new Error(`${(err as Error).message}; events seen: ${seen.map((e) => e.type).join(', ')}`);
    }
  };
  /** `turns` answers completed and the session idle since: its last busy/idle event is an idle. */
  const idleAfter = (turns: number) => (events: EventRecord[]) =>
    events.filter((e) => e.type === 'message.completed').length >= turns &&
    events.filter((e) => e.type === 'session.busy' || e.type === 'session.idle').at(-1)?.type ===
      'session.idle';
  const first = await eventsInA(idleAfter(1), 'the first turn, run in region B, idle in the API of region A');
  // It ran in opencode in region B: the scripted model was asked exactly the prompt sent to region A.
  assert.equal(llm.chatRequests(prompt).length, 1, 'the prompt reached the model once');
  const types = first.map((e) => e.type);
  for (const type of ['session.created', 'session.busy', 'message.completed', 'session.idle'])
    assert.ok(types.includes(type), `${type} in ${types.join(',')}`);
  assert.ok(
    first.every((e) => e.node === 'host-b' && e.project === 'app'),
    'every event is host-b/app',
  );
  const completed = first.find((e) => e.type === 'message.completed');
  assert.deepEqual(
    completed?.data.tokens,
    { input: 800, output: 45, reasoning: 0, cache_read: 0, cache_write: 0 },
    'the tokens opencode counted',
  );
  const view = await stack.api<{ data: SessionView }>(`/api/v1/sessions/${session}`);
  assert.equal(view.status, 200);
  assert.equal(view.body.data.node, 'host-b');
  assert.equal(view.body.data.state, 'idle');
  assert.equal(view.body.data.tokens.output, 45);
  const logs = await stack.api<{ data: LogEntry[] }>(`/api/v1/sessions/${session}/logs`);
  assert.equal(logs.status, 200, JSON.stringify(logs.body));
  assert.ok(
    logs.body.data.some((l) => l.role === 'assistant' && l.text === 'Report written in region B.'),
    "the model's answer in region A's logs",
  );

  // An inject from region A reaches the session in region B: a second turn, seen in region A.
  const followUp = `Now add the totals ${crypto.randomUUID()}`;
  llm.script({ text: 'Totals added in region B.', usage: { prompt_tokens: 900, completion_tokens: 12 } });
  const injected = await stack.api(`/api/v1/sessions/${session}/inject`, { prompt: followUp });
  assert.equal(injected.status, 200, JSON.stringify(injected.body));
  await eventsInA(idleAfter(2), 'the injected turn idle in the API of region A');
  assert.equal(llm.chatRequests(followUp).length, 1, 'the inject reached the model once');
  const after = await stack.api<{ data: SessionView }>(`/api/v1/sessions/${session}`);
  assert.equal(after.body.data.tokens.output, 45 + 12);

  // Region B's own API (its hal-gateway) answers the same over NATS. opencode may still send a
  // trailing update after the idle (last_activity_at moves by a few ms), so both are read again
  // until they agree rather than compared once at two different instants.
  const viewIn = async (base: string) => {
    const r = await fetch(`${base}/api/v1/sessions/${session}`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    assert.equal(r.status, 200);
    return ((await r.json()) as { data: SessionView }).data;
  };
  let last: { a: SessionView; b: SessionView } | undefined;
  try {
    await waitFor(
      async () => {
        last = { a: await viewIn(stack.apiUrl), b: await viewIn(fed.gatewayB.apiUrl) };
        return JSON.stringify(last.a) === JSON.stringify(last.b);
      },
      { timeoutMs: 10_000, message: "region B's API answers the session as region A's does" },
    );
  } catch (err) {
    assert.deepEqual(last?.b, last?.a, (err as Error).message);
  }
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EventDraft } from '@hal/agent';
import type { EventRecord } from '@hal/protocol';
import {
  type OpencodeServer,
  type ScriptedLlm,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import {
  bulkDrafts,
  exactlyOnceInOrder,
  HEARTBEAT_TIMEOUT_MS,
  type Spine,
  startAgent,
  startSpine,
  startTcpProxy,
  type TestAgent,
  typesOf,
} from './spine-harness.ts';

// One real opencode for the file (three projects, so three agents can share it without watching
// each other's sessions), one nats-server, one gateway; agents are real and in-process.
let llm: ScriptedLlm;
let opencode: OpencodeServer;
let spine: Spine;
const agents: TestAgent[] = [];

before(async () => {
  llm = await startScriptedLlm({ titleText: 'Spine title' });
  opencode = await startOpencode({
    llm,
    projects: [{ name: 'alpha' }, { name: 'beta' }, { name: 'gamma' }],
  });
  spine = await startSpine();
});

after(async () => {
  for (const a of agents) await a.dispose();
  await spine?.close();
  await opencode?.stop();
  await llm?.stop();
});

const project = (name: string) => {
  const p = opencode.projects.find((x) => x.name === name);
  if (p === undefined) throw new Error(`no project ${name}`);
  return p;
};

async function agentFor(node: string, projectName: string, supervisorUrl = spine.wsUrl): Promise<TestAgent> {
  const a = await startAgent({
    node,
    supervisorUrl,
    opencodeUrl: opencode.url,
    projects: [project(projectName)],
  });
  agents.push(a);
  return a;
}

async function startSession(node: string, projectName: string, prompt: string): Promise<string> {
  const r = await spine.command(node, { type: 'start', project: projectName, prompt });
  assert.equal(r.ok, true, JSON.stringify(r));
  const data = (r as { data: { session: string; project: string; prompted: boolean } }).data;
  assert.equal(data.project, projectName);
  assert.equal(data.prompted, true);
  assert.match(data.session, /^ses_/);
  return data.session;
}

/** The agent's events of one session (seq > 0): the gateway's own traces, such as command.executed, carry seq 0. */
const ofSession = (session: string): EventRecord[] =>
  spine.events.of((e) => e.session === session && e.seq > 0);

/** created → busy → message.completed → idle, in stream order and in agent seq order. */
function assertTurnInOrder(session: string): EventRecord[] {
  const events = ofSession(session);
  const types = typesOf(events);
  const at = (t: string) => types.indexOf(t);
  const trace = events.map((e) => `${e.node}:${e.seq}:${e.type}${e.data.reconciled ? '(r)' : ''}`).join(' ');
  assert.ok(at('session.created') >= 0, trace);
  assert.ok(at('session.created') < at('session.busy'), types.join(','));
  assert.ok(at('session.busy') < at('message.completed'), types.join(','));
  assert.ok(at('message.completed') < types.lastIndexOf('session.idle'), types.join(','));
  const seqs = events.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    `JetStream holds the session in agent seq order: ${events.map((e) => `${e.node}:${e.seq}:${e.type}`).join(' ')}`,
  );
  return events;
}

test('spine lifecycle - one node: start, events in JetStream in order with tokens, kill aborts in opencode, offline after stop', async (t) => {
  const node = 'node-solo';
  const a = await agentFor(node, 'alpha');
  // Stopped here even on failure, so later tests never see a second agent on project alpha.
  t.after(() => a.stop());
  const online = await spine.events.wait((e) => e.node === node && e.type === 'node.online');
  assert.deepEqual(online.data.projects, [{ name: 'alpha', directory: project('alpha').directory }]);
  await spine.events.wait((e) => e.node === node && e.type === 'node.snapshot');

  llm.script({
    text: 'Spine says hello.',
    usage: { prompt_tokens: 900, completion_tokens: 42, prompt_tokens_details: { cached_tokens: 100 } },
  });
  const session = await startSession(node, 'alpha', 'say hello');
  await waitFor(
    () =>
      ofSession(session).some((e) => e.type === 'message.completed') &&
      ofSession(session).some((e) => e.type === 'session.idle'),
    { timeoutMs: 20_000, message: 'the turn is in JetStream' },
  );
  const events = assertTurnInOrder(session);
  const completed = events.filter((e) => e.type === 'message.completed');
  assert.equal(completed.length, 1);
  assert.deepEqual(completed[0]?.data.tokens, {
    input: 800,
    output: 42,
    reasoning: 0,
    cache_read: 100,
    cache_write: 0,
  });
  assert.equal(completed[0]?.data.model, 'fake-model');
  const stored = spine.events.all.find((s) => s.event.id === completed[0]?.id);
  assert.equal(stored?.subject, `hal.evt.${node}.alpha.message.completed`);
  for (const e of events) {
    assert.equal(e.node, node);
    assert.equal(e.project, 'alpha');
  }

  // A slow second turn, killed while busy: opencode ends it with MessageAbortedError.
  llm.script({ text: 'never finished', delayMs: 30_000 });
  const busyBefore = ofSession(session).filter((e) => e.type === 'session.busy').length;
  const inj = await spine.command(node, { type: 'inject', session, prompt: 'take your time' });
  assert.deepEqual(inj, { ok: true, data: { session, injected: true } });
  // Busy comes before opencode calls the model; an abort is only meaningful once the call is out.
  await waitFor(
    () =>
      ofSession(session).filter((e) => e.type === 'session.busy').length > busyBefore &&
      llm.chatRequests('take your time').length > 0,
    { timeoutMs: 30_000, message: 'second turn busy and waiting on the model' },
  );
  const kill = await spine.command(node, { type: 'kill', session });
  assert.deepEqual(kill, { ok: true, data: { session, aborted: true } });
  const aborted = await spine.events.wait(
    (e) => e.session === session && e.type === 'session.error',
    20_000,
    `session.error after kill: ${typesOf(ofSession(session)).join(',')}`,
  );
  assert.equal(aborted.data.kind, 'MessageAbortedError');
  const dir = encodeURIComponent(project('alpha').directory);
  await waitFor(
    async () => {
      const status = (await (
        await fetch(`${opencode.url}/session/status?directory=${dir}`)
      ).json()) as Record<string, { type: string }>;
      return status[session] === undefined || status[session]?.type === 'idle';
    },
    { timeoutMs: 20_000, message: 'opencode no longer has the session busy' },
  );
  const messages = (await (
    await fetch(`${opencode.url}/session/${session}/message?directory=${dir}`)
  ).json()) as Array<{ info: { role: string; error?: { name: string } } }>;
  const last = messages.filter((m) => m.info.role === 'assistant').at(-1);
  assert.equal(last?.info.error?.name, 'MessageAbortedError');

  const unknown = await spine.command(node, { type: 'kill', session: 'ses_nope' });
  assert.deepEqual(unknown, {
    ok: false,
    error: {
      code: 'SESSION_NOT_FOUND',
      message: 'session "ses_nope" not found on this node',
      details: { session: 'ses_nope' },
    },
  });

  // Stopping the agent: node.offline well within the heartbeat timeout; the session is not killed.
  const mark = spine.events.all.length;
  const stoppedAt = Date.now();
  await a.stop();
  const offline = await waitFor(
    () => spine.events.since(mark, (e) => e.node === node && e.type === 'node.offline')[0],
    { timeoutMs: HEARTBEAT_TIMEOUT_MS + 1000, message: 'node.offline after the agent stops' },
  );
  assert.ok(Date.now() - stoppedAt <= HEARTBEAT_TIMEOUT_MS + 1000);
  assert.equal(offline.data.reason, 'socket_closed');
  const noOne = await spine.command(node, { type: 'status' }, 2000);
  assert.equal(noOne.ok ? 'ok' : noOne.error.code, 'NODE_OFFLINE', 'hal.cmd for an offline node');
});

test('spine lifecycle - three nodes at once: each session and its events stay on their own node', async () => {
  const nodes = [
    { node: 'node-a', project: 'alpha' },
    { node: 'node-b', project: 'beta' },
    { node: 'node-c', project: 'gamma' },
  ];
  await Promise.all(nodes.map((n) => agentFor(n.node, n.project)));
  llm.script({ text: 'reply one' }, { text: 'reply two' }, { text: 'reply three' });
  const sessions = await Promise.all(
    nodes.map((n) => startSession(n.node, n.project, `work on ${n.project}`)),
  );
  await waitFor(
    () =>
      sessions.every(
        (s) =>
          ofSession(s).some((e) => e.type === 'message.completed') &&
          ofSession(s).some((e) => e.type === 'session.idle'),
      ),
    { timeoutMs: 30_000, message: 'all three turns are in JetStream' },
  );
  nodes.forEach((n, i) => {
    const session = sessions[i] ?? '';
    const events = assertTurnInOrder(session);
    for (const e of events) {
      assert.equal(e.node, n.node, `${e.type} of ${session} carries its node`);
      assert.equal(e.project, n.project);
    }
    const subjects = spine.events.all.filter((s) => s.event.session === session).map((s) => s.subject);
    for (const s of subjects) assert.ok(s.startsWith(`hal.evt.${n.node}.${n.project}.`), s);
    // No other node ever reported this session.
    assert.equal(spine.events.of((e) => e.session === session && e.node !== n.node).length, 0);
  });
  const texts = nodes.map((_, i) =>
    ofSession(sessions[i] ?? '')
      .filter((e) => e.type === 'message.part' && e.data.role === 'assistant')
      .map((e) => e.data.text),
  );
  assert.deepEqual(texts.flat().sort(), ['reply one', 'reply three', 'reply two']);
  const held = (spine.gateway()?.nodes() ?? []).map((n) => n.node).sort();
  for (const n of nodes) assert.ok(held.includes(n.node), `gateway holds ${n.node}: ${held.join(',')}`);
});

test('spine lifecycle - heartbeats frozen while the socket stays open: node.offline within the timeout, then back online', async () => {
  const node = 'node-frozen';
  const proxy = await startTcpProxy(spine.wsPort);
  try {
    await agentFor(node, 'alpha', proxy.url);
    await spine.events.wait((e) => e.node === node && e.type === 'node.snapshot');
    const mark = spine.events.all.length;
    const frozenAt = Date.now();
    proxy.freeze();
    const offline = await waitFor(
      () => spine.events.since(mark, (e) => e.node === node && e.type === 'node.offline')[0],
      { timeoutMs: HEARTBEAT_TIMEOUT_MS + 2000, message: 'node.offline by heartbeat timeout' },
    );
    const elapsed = Date.now() - frozenAt;
    assert.equal(offline.data.reason, 'heartbeat_timeout');
    // The last beat came at most one interval before the freeze.
    assert.ok(elapsed >= HEARTBEAT_TIMEOUT_MS / 2 - 100, `offline after ${elapsed} ms, not at once`);
    assert.ok(elapsed <= HEARTBEAT_TIMEOUT_MS + 1500, `offline after ${elapsed} ms`);
    // The gateway closed the frozen socket; the agent dials again and is online on a fresh link.
    await waitFor(
      () => spine.events.since(mark, (e) => e.node === node && e.type === 'node.online').length > 0,
      { timeoutMs: 20_000, message: 'back online after the freeze' },
    );
  } finally {
    await proxy.stop();
  }
});

test('spine lifecycle - bad events from a real agent are refused one by one; the good ones around them are stored and the link stays up', async () => {
  const node = 'node-bad';
  const a = await agentFor(node, 'beta');
  await spine.events.wait((e) => e.node === node && e.type === 'node.snapshot');
  const good = bulkDrafts(node, 'beta', ['ses_good'], 3);
  const [g0, g1, g2] = good as [EventDraft, EventDraft, EventDraft];
  const posing = { ...g0, id: crypto.randomUUID(), node: 'someone-else' };
  const badType = { ...g0, id: crypto.randomUUID(), type: 'Not A Type!' };
  a.agent.spool.append([g0, posing, g1, badType, g2]);
  a.agent.connection()?.notify();
  await spine.events.wait((e) => e.id === g2.id, 20_000, 'the good event after the bad ones');
  assert.equal(
    exactlyOnceInOrder(
      spine.events.of((e) => e.node === node),
      good,
    ),
    undefined,
  );
  assert.equal(spine.events.of((e) => e.id === posing.id || e.id === badType.id).length, 0);
  // Rejected events count as done for the ack, so nothing stays stuck in the spool.
  await waitFor(() => a.agent.spool.depth() === 0, { timeoutMs: 20_000, message: 'spool drained' });
  assert.equal(spine.events.of((e) => e.node === node && e.type === 'node.online').length, 1);
  assert.equal(a.agent.connection()?.ready(), true);
  await a.stop();
});

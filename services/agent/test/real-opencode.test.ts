import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import {
  type CuttingProxy,
  type OpencodeServer,
  type ScriptedLlm,
  startCuttingProxy,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import { type Agent, createAgent } from '../src/index.ts';

import { type GatewayPeer, startGatewayPeer } from './gateway-peer.ts';

// One real opencode for the whole file (it needs ~800 MB), one agent in front of it through a
// cuttable proxy, and a minimal gateway peer recording what the agent sends.
const log = createLogger({ service: 'agent', level: (process.env.HAL_TEST_LOG ?? 'silent') as 'silent' });
const actor = { kind: 'user', id: 'tester' };
let llm: ScriptedLlm;
let opencode: OpencodeServer;
let proxy: CuttingProxy;
let peer: GatewayPeer;
let agent: Agent;
let dataDir: string;
let commandSeq = 0;

before(async () => {
  llm = await startScriptedLlm({ titleText: 'Scripted title' });
  // bash/edit ask for permission, so the permission test has something to answer.
  opencode = await startOpencode({ llm, projects: [{ name: 'alpha' }], permission: 'ask' });
  proxy = await startCuttingProxy(opencode.url);
  peer = await startGatewayPeer();
  dataDir = mkdtempSync(join(tmpdir(), 'hal-agent-real-'));
  agent = createAgent({
    config: {
      node_id: 'node-a',
      supervisor_url: peer.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: opencode.port,
      opencode: { url: proxy.url, manage: false, binary: 'opencode' },
      projects: opencode.projects,
      data_dir: dataDir,
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 50_000_000 },
      reconnect: { initial_ms: 50, max_ms: 500 },
      command_timeout_ms: 20_000,
    },
    log,
    sseBackoff: { initialMs: 100, maxMs: 300 },
  });
  await agent.start();
  await waitFor(() => agent.connection()?.ready(), { timeoutMs: 10_000 });
});

after(async () => {
  await agent?.stop();
  await peer?.stop();
  await proxy?.stop();
  await opencode?.stop();
  await llm?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function command(cmd: Record<string, unknown>, timeoutMs = 20_000): Promise<Record<string, unknown>> {
  const id = `cmd-${++commandSeq}`;
  peer.sendCommand({ command_id: id, command: cmd, actor, timeout_ms: timeoutMs });
  return peer.result(id, timeoutMs + 1000);
}

const ofSession = (session: string) => peer.events.filter((e) => e.session === session);
const typesOf = (events: EventRecord[]) => events.map((e) => e.type);

test('real opencode - start with a prompt: created, busy, message.completed with the scripted tokens, idle, in order', async () => {
  llm.script({
    text: 'Hello from the fake LLM.',
    usage: { prompt_tokens: 1234, completion_tokens: 56, prompt_tokens_details: { cached_tokens: 200 } },
  });
  const r = await command({ type: 'start', project: 'alpha', prompt: 'first prompt', title: 'exp' });
  assert.equal(r.ok, true, JSON.stringify(r));
  const session = String((r.data as { session: string }).session);
  assert.match(session, /^ses_/);
  await waitFor(
    () =>
      typesOf(ofSession(session)).includes('session.idle') &&
      ofSession(session).some((e) => e.type === 'message.completed'),
    {
      // The first turn of the file is opencode's cold one (provider package, model list): on a
      // loaded machine it takes longer than the others, as in the supervisor's e2e tests.
      timeoutMs: 60_000,
      message: 'the turn finishes',
    },
  );
  const events = ofSession(session);
  const types = typesOf(events);
  const at = (t: string) => types.indexOf(t);
  assert.ok(at('session.created') >= 0 && at('session.created') < at('session.busy'), types.join(','));
  assert.ok(at('session.busy') < at('message.completed'), types.join(','));
  assert.ok(at('message.completed') < types.lastIndexOf('session.idle'), types.join(','));
  const completed = events.filter((e) => e.type === 'message.completed');
  assert.equal(completed.length, 1, 'message.completed goes out once per assistant message');
  assert.deepEqual(completed[0]?.data.tokens, {
    input: 1034,
    output: 56,
    reasoning: 0,
    cache_read: 200,
    cache_write: 0,
  });
  assert.equal(completed[0]?.data.model, 'fake-model');
  assert.equal(completed[0]?.data.provider, 'fake');
  assert.equal(completed[0]?.project, 'alpha');
  assert.equal(completed[0]?.node, 'node-a');
  assert.equal(completed[0]?.refs?.session_id, session);
  assert.match(String(completed[0]?.refs?.message_id), /^msg_/);
  const seqs = peer.events.map((e) => e.seq);
  assert.deepEqual(
    seqs,
    [...seqs].sort((a, b) => a - b),
    'events reach the peer in seq order',
  );
  const part = events.find((e) => e.type === 'message.part' && e.data.role === 'assistant');
  assert.equal(part?.data.text, 'Hello from the fake LLM.');

  const logs = await command({ type: 'logs', session });
  const entries = (logs.data as { entries: Array<Record<string, unknown>> }).entries;
  assert.deepEqual(
    entries.filter((e) => e.kind === 'text').map((e) => [e.role, e.text]),
    [
      ['user', 'first prompt'],
      ['assistant', 'Hello from the fake LLM.'],
    ],
  );
  const status = await command({ type: 'status', session });
  assert.equal((status.data as { state: string }).state, 'idle');
});

test('real opencode - kill aborts a busy session; unknown sessions answer SESSION_NOT_FOUND', async () => {
  llm.script({ text: 'slow answer', delayMs: 8000 });
  const r = await command({ type: 'start', project: 'alpha', prompt: 'take your time' });
  const session = String((r.data as { session: string }).session);
  await waitFor(() => typesOf(ofSession(session)).includes('session.busy'), { timeoutMs: 10_000 });
  // An abort that lands before opencode has called the LLM ends the turn without a session.error
  // (and leaves the slow step queued for the next test): kill only once the call is under way.
  await waitFor(() => llm.chatRequests('take your time').length > 0, {
    timeoutMs: 10_000,
    message: 'the LLM received the turn',
  });
  const k = await command({ type: 'kill', session });
  assert.deepEqual(k, { command_id: k.command_id, ok: true, data: { session, aborted: true } });
  await waitFor(() => ofSession(session).find((e) => e.type === 'session.error'), { timeoutMs: 10_000 });
  const err = ofSession(session).find((e) => e.type === 'session.error');
  assert.equal(err?.data.kind, 'MessageAbortedError');
  await waitFor(() => typesOf(ofSession(session)).includes('session.idle'), { timeoutMs: 10_000 });

  for (const cmd of [
    { type: 'kill', session: 'ses_nope' },
    { type: 'inject', session: 'ses_nope', prompt: 'hi' },
  ]) {
    const nf = await command(cmd);
    assert.equal(nf.ok, false);
    assert.deepEqual((nf.error as { code: string; message: string }).code, 'SESSION_NOT_FOUND');
    assert.equal((nf.error as { message: string }).message, 'session "ses_nope" not found on this node');
  }
});

test('real opencode - permission asked reaches the peer and the permission command answers it', async () => {
  llm.script(
    { toolCall: { name: 'bash', arguments: { command: 'echo hi > out.txt', description: 'write a file' } } },
    { text: 'Wrote the file.' },
  );
  const r = await command({ type: 'start', project: 'alpha', prompt: 'write out.txt' });
  const session = String((r.data as { session: string }).session);
  const asked = await waitFor(() => ofSession(session).find((e) => e.type === 'permission.asked'), {
    timeoutMs: 15_000,
  });
  assert.equal(asked.data.permission, 'bash');
  assert.deepEqual(asked.data.patterns, ['echo hi > out.txt']);
  const permissionId = String(asked.data.permission_id);
  assert.equal(asked.refs?.permission_id, permissionId);
  const status = await command({ type: 'status', session });
  assert.equal((status.data as { state: string }).state, 'waiting_input');

  const bad = await command({ type: 'permission', session, permission_id: 'per_nope', response: 'once' });
  assert.equal((bad.error as { code: string }).code, 'PERMISSION_NOT_FOUND');
  const ok = await command({ type: 'permission', session, permission_id: permissionId, response: 'once' });
  assert.equal(ok.ok, true, JSON.stringify(ok));
  const replied = await waitFor(() => ofSession(session).find((e) => e.type === 'permission.replied'), {
    timeoutMs: 10_000,
  });
  assert.deepEqual(replied.data, { permission_id: permissionId, response: 'once' });
  await waitFor(
    () =>
      ofSession(session).find(
        (e) => e.type === 'message.part' && e.data.part_type === 'tool' && e.data.tool_status === 'completed',
      ),
    {
      timeoutMs: 15_000,
      message: 'the tool ran after the reply',
    },
  );
  await waitFor(() => ofSession(session).filter((e) => e.type === 'message.completed').length === 2, {
    timeoutMs: 15_000,
  });
});

test('real opencode - restart is the hand-off: answered at once, .context asked for, then a new session seeded naming the old one and its task', async () => {
  llm.script({ text: 'first turn' });
  const r = await command({
    type: 'start',
    project: 'alpha',
    prompt: 'Refactor the parser',
    title: 'parser work',
  });
  const old = String((r.data as { session: string }).session);
  await waitFor(() => ofSession(old).some((e) => e.type === 'message.completed'), { timeoutMs: 15_000 });
  llm.script({ text: 'context files written' }, { text: 'picking up' });
  const re = await command({ type: 'restart', session: old });
  assert.equal(re.ok, true, JSON.stringify(re));
  const accepted = re.data as { handoff_id: string; session: string; wait_idle_ms: number };
  assert.match(accepted.handoff_id, /^ho_/);
  assert.equal(accepted.session, old, 'answered before any new session exists');
  assert.equal(accepted.wait_idle_ms, 60_000);
  const done = await waitFor(() => ofSession(old).find((e) => e.type === 'handoff.completed'), {
    timeoutMs: 30_000,
    message: 'the hand-off completed',
  });
  assert.equal(done.data.handoff_id, accepted.handoff_id);
  assert.equal(done.data.went_idle, true, 'the old session answered the update prompt and went idle');
  const fresh = String(done.data.session);
  assert.notEqual(fresh, old);
  assert.ok(llm.chatRequests('HAL hand-off')[0], 'the old session was asked to update .context first');
  const req = await waitFor(() => llm.chatRequests('which was handed off').at(-1), {
    timeoutMs: 15_000,
    message: 'the hand-off prompt reached the LLM',
  });
  assert.match(req.lastUserText, new RegExp(`continues session ${old} \\(titled "parser work"\\)`));
  assert.match(req.lastUserText, /Refactor the parser/);
});

test('real opencode - an SSE drop is recovered: re-subscribe, and reconcile emits what happened meanwhile', async () => {
  proxy.cut();
  await waitFor(() => peer.events.find((e) => e.type === 'agent.opencode_down'), { timeoutMs: 10_000 });
  // Created directly on opencode while the agent cannot see its stream.
  const res = await fetch(
    `${opencode.url}/session?directory=${encodeURIComponent(opencode.projects[0]?.directory ?? '')}`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'made while cut' }),
    },
  );
  const created = (await res.json()) as { id: string };
  proxy.restore();
  const ev = await waitFor(() => ofSession(created.id).find((e) => e.type === 'session.created'), {
    timeoutMs: 10_000,
    message: 'reconcile reports the session created during the cut',
  });
  assert.equal(ev.data.reconciled, true);
  assert.equal(ev.data.title, 'made while cut');
  assert.equal(ev.refs?.type, 'reconcile');
  assert.ok(peer.events.find((e) => e.type === 'agent.opencode_up'));
  // And the live stream works again.
  llm.script({ text: 'after the cut' });
  const r = await command({ type: 'inject', session: created.id, prompt: 'hello again' });
  assert.equal(r.ok, true, JSON.stringify(r));
  await waitFor(() => ofSession(created.id).some((e) => e.type === 'message.completed'), {
    timeoutMs: 15_000,
  });
});

test('real opencode - a start command sent the moment the agent is welcomed still has its session.created stored', async (t) => {
  // A second agent whose opencode stream is answered at once but subscribed 800 ms later, as
  // opencode itself does on a slow start: a command run before that would lose session.created.
  const lagging = await startCuttingProxy(opencode.url);
  t.after(() => lagging.stop());
  lagging.lagEventStream(800);
  let sent = false;
  const peer2 = await startGatewayPeer({
    afterWelcome(p) {
      if (sent) return;
      sent = true;
      p.sendCommand({
        command_id: 'early-start',
        command: { type: 'start', project: 'alpha', title: 'early bird' },
        actor,
        timeout_ms: 20_000,
      });
    },
  });
  t.after(() => peer2.stop());
  const dir2 = mkdtempSync(join(tmpdir(), 'hal-agent-real-2-'));
  t.after(() => rmSync(dir2, { recursive: true, force: true }));
  const agent2 = createAgent({
    config: {
      node_id: 'node-b',
      supervisor_url: peer2.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: opencode.port,
      opencode: { url: lagging.url, manage: false, binary: 'opencode' },
      projects: opencode.projects,
      data_dir: dir2,
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 50_000_000 },
      reconnect: { initial_ms: 50, max_ms: 500 },
      command_timeout_ms: 20_000,
    },
    log,
    sseBackoff: { initialMs: 100, maxMs: 300 },
  });
  t.after(() => agent2.stop());
  await agent2.start();
  const r = await peer2.result('early-start', 20_000);
  assert.equal(r.ok, true, JSON.stringify(r));
  const session = String((r.data as { session: string }).session);
  const created = await waitFor(
    () => peer2.events.find((e) => e.session === session && e.type === 'session.created'),
    { timeoutMs: 10_000, message: 'session.created of the early session reaches the peer' },
  );
  assert.equal(created.data.title, 'early bird');
  assert.equal(created.data.reconciled, undefined, 'seen live on the stream, not patched up later');
  assert.equal(created.node, 'node-b');
});

test('real opencode - a turn that completes while the SSE is cut: reconcile sends its message.completed with the scripted tokens', async () => {
  llm.script({ text: 'before the cut' });
  const r = await command({ type: 'start', project: 'alpha', prompt: 'first turn', title: 'cut turn' });
  const session = String((r.data as { session: string }).session);
  await waitFor(
    () =>
      ofSession(session).some((e) => e.type === 'message.completed') &&
      typesOf(ofSession(session)).includes('session.idle'),
    { timeoutMs: 20_000, message: 'the first turn is seen live' },
  );
  const downs = peer.events.filter((e) => e.type === 'agent.opencode_down').length;
  proxy.cut();
  await waitFor(() => peer.events.filter((e) => e.type === 'agent.opencode_down').length > downs, {
    timeoutMs: 10_000,
    message: 'the agent saw the stream go',
  });
  llm.script({
    text: 'Done while you were away.',
    usage: { prompt_tokens: 777, completion_tokens: 33, prompt_tokens_details: { cached_tokens: 100 } },
  });
  const dir = encodeURIComponent(opencode.projects[0]?.directory ?? '');
  const prompted = await fetch(`${opencode.url}/session/${session}/prompt_async?directory=${dir}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ parts: [{ type: 'text', text: 'second turn' }] }),
  });
  assert.equal(prompted.status, 204);
  // The whole turn ends on opencode before the agent can see anything again.
  await waitFor(
    async () => {
      const res = await fetch(`${opencode.url}/session/${session}/message?directory=${dir}`);
      const messages = (await res.json()) as Array<{
        info: { role: string; finish?: string; time: { completed?: number } };
      }>;
      const done = messages.filter((m) => m.info.role === 'assistant' && m.info.time.completed !== undefined);
      const status = (await (
        await fetch(`${opencode.url}/session/status?directory=${dir}`)
      ).json()) as Record<string, unknown>;
      return done.length === 2 && status[session] === undefined;
    },
    { timeoutMs: 20_000, message: 'the second turn completed on opencode during the cut' },
  );
  const seenBefore = ofSession(session).length;
  proxy.restore();
  const recovered = await waitFor(
    () => ofSession(session).find((e) => e.type === 'message.completed' && e.data.reconciled === true),
    { timeoutMs: 15_000, message: 'reconcile sends the missed message.completed' },
  );
  assert.deepEqual(recovered.data.tokens, {
    input: 677,
    output: 33,
    reasoning: 0,
    cache_read: 100,
    cache_write: 0,
  });
  assert.equal(recovered.data.model, 'fake-model');
  assert.equal(recovered.data.provider, 'fake');
  assert.equal(recovered.refs?.type, 'reconcile');
  assert.match(String(recovered.refs?.message_id), /^msg_/);
  const after = ofSession(session).slice(seenBefore);
  const text = after.find((e) => e.type === 'message.part' && e.data.role === 'assistant');
  assert.equal(text?.data.text, 'Done while you were away.');
  assert.equal(text?.data.reconciled, true);
  assert.ok(
    after.indexOf(text as EventRecord) < after.indexOf(recovered),
    'the parts come before the completion',
  );
  assert.ok(
    after.some((e) => e.type === 'message.part' && e.data.role === 'user' && e.data.text === 'second turn'),
    'the prompt given during the cut is in the log too',
  );
  // The turn seen live before the cut is not sent again.
  const ids = ofSession(session)
    .filter((e) => e.type === 'message.completed')
    .map((e) => e.data.message_id);
  assert.equal(ids.length, 2, ids.join(','));
  assert.equal(new Set(ids).size, 2);
});

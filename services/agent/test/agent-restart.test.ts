import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { startCuttingProxy, startOpencode, startScriptedLlm, waitFor } from '@hal/testkit';
import { type Agent, createAgent } from '../src/index.ts';

import { startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent', level: (process.env.HAL_TEST_LOG ?? 'silent') as 'silent' });
const actor = { kind: 'user', id: 'tester' };

interface OcStoredMessage {
  info: { id: string; role: string; finish?: string; error?: unknown; time: { completed?: number } };
  parts: Array<{ type: string; text?: string }>;
}

test('agent restart - a turn that completes while hal-agent is down: one reconciled message.completed after restart, nothing re-sent, the session never stopped', async (t) => {
  const llm = await startScriptedLlm({ titleText: 'Scripted title' });
  t.after(() => llm.stop());
  const opencode = await startOpencode({ llm, projects: [{ name: 'alpha' }] });
  t.after(() => opencode.stop());
  // Every request of both agents passes here, so the test can see that no abort was ever sent.
  const proxy = await startCuttingProxy(opencode.url);
  t.after(() => proxy.stop());
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const dataDir = mkdtempSync(join(tmpdir(), 'hal-agent-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const directory = opencode.projects[0]?.directory ?? '';
  const dir = encodeURIComponent(directory);

  const running: Agent[] = [];
  t.after(async () => {
    for (const a of running) await a.stop().catch(() => undefined);
  });
  async function startAgent(): Promise<Agent> {
    const agent = createAgent({
      config: {
        node_id: 'node-r',
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
    running.push(agent);
    await agent.start();
    await waitFor(() => agent.connection()?.ready(), { timeoutMs: 10_000, message: 'the agent is welcomed' });
    return agent;
  }
  let commandSeq = 0;
  async function command(cmd: Record<string, unknown>): Promise<Record<string, unknown>> {
    const id = `cmd-${++commandSeq}`;
    peer.sendCommand({ command_id: id, command: cmd, actor, timeout_ms: 20_000 });
    return peer.result(id, 21_000);
  }
  // Resends after a reconnect carry the same event id: count each event once.
  const unique = (events: EventRecord[]) => [...new Map(events.map((e) => [e.id, e])).values()];
  const completions = (session: string, messageId?: string) =>
    unique(peer.events).filter(
      (e) =>
        e.session === session &&
        e.type === 'message.completed' &&
        (messageId === undefined || e.data.message_id === messageId),
    );
  const messages = async (session: string) =>
    (await (
      await fetch(`${opencode.url}/session/${session}/message?directory=${dir}`)
    ).json()) as OcStoredMessage[];
  const statusOf = async (session: string) =>
    (
      (await (await fetch(`${opencode.url}/session/status?directory=${dir}`)).json()) as Record<
        string,
        { type: string }
      >
    )[session];

  const first = await startAgent();
  llm.script({ text: 'First answer.', usage: { prompt_tokens: 500, completion_tokens: 20 } });
  const r = await command({ type: 'start', project: 'alpha', prompt: 'first turn', title: 'restart me' });
  assert.equal(r.ok, true, JSON.stringify(r));
  const session = String((r.data as { session: string }).session);
  await waitFor(
    () =>
      completions(session).length === 1 &&
      unique(peer.events).some((e) => e.session === session && e.type === 'session.idle'),
    { timeoutMs: 20_000, message: 'the first turn is seen live' },
  );
  const firstMessage = String(completions(session)[0]?.data.message_id);

  // The second turn's reply is slow: hal-agent stops while opencode waits for the LLM.
  llm.script({
    text: 'Done while the agent was down.',
    usage: { prompt_tokens: 900, completion_tokens: 44, prompt_tokens_details: { cached_tokens: 300 } },
    delayMs: 4_000,
  });
  const injected = await command({ type: 'inject', session, prompt: 'second turn' });
  assert.equal(injected.ok, true, JSON.stringify(injected));
  await waitFor(() => llm.chatRequests('second turn').length > 0, {
    timeoutMs: 15_000,
    message: 'the LLM received the second turn',
  });
  await first.stop();
  const stoppedAt = Date.now();

  // hal-agent is down; the session keeps running in opencode, then ends on its own.
  assert.deepEqual(await statusOf(session), { type: 'busy' }, 'the session is still busy in opencode');
  const done = await waitFor(
    async () => {
      const list = await messages(session);
      const assistants = list.filter(
        (m) => m.info.role === 'assistant' && m.info.time.completed !== undefined,
      );
      return assistants.length === 2 && (await statusOf(session)) === undefined ? assistants[1] : undefined;
    },
    { timeoutMs: 20_000, message: 'the second turn completed in opencode while hal-agent was down' },
  );
  assert.ok(Date.now() - stoppedAt < 20_000);
  assert.equal(done.info.finish, 'stop');
  assert.equal(done.info.error, undefined, 'the turn was not aborted');
  assert.deepEqual(
    done.parts.filter((p) => p.type === 'text').map((p) => p.text),
    ['Done while the agent was down.'],
  );
  const secondMessage = done.info.id;
  assert.equal(completions(session, secondMessage).length, 0, 'nobody told the peer yet');

  // A new agent process on the same data dir.
  const second = await startAgent();
  const recovered = await waitFor(() => completions(session, secondMessage)[0], {
    timeoutMs: 15_000,
    message: 'the restarted agent sends the message.completed of the turn that ended meanwhile',
  });
  await waitFor(() => second.spool.depth() === 0, { timeoutMs: 10_000, message: 'everything acked' });
  assert.equal(recovered.data.reconciled, true);
  assert.equal(recovered.refs?.type, 'reconcile');
  assert.equal(recovered.refs?.message_id, secondMessage);
  assert.deepEqual(recovered.data.tokens, {
    input: 600,
    output: 44,
    reasoning: 0,
    cache_read: 300,
    cache_write: 0,
  });
  assert.equal(recovered.data.model, 'fake-model');
  assert.equal(recovered.data.finish, 'stop');
  assert.equal(completions(session, secondMessage).length, 1, 'exactly one message.completed for the turn');
  assert.equal(completions(session, firstMessage).length, 1, 'the turn seen before the stop is not re-sent');
  for (const prompt of ['first turn', 'second turn']) {
    assert.deepEqual(
      unique(peer.events)
        .filter((e) => e.session === session && e.type === 'message.part' && e.data.text === prompt)
        .map((e) => e.data.reconciled),
      [undefined],
      `the prompt "${prompt}", seen live before the stop, is not re-sent`,
    );
  }
  const parts = unique(peer.events).filter(
    (e) => e.session === session && e.type === 'message.part' && e.data.message_id === secondMessage,
  );
  assert.deepEqual(
    parts.map((e) => [e.data.text, e.data.reconciled]),
    [['Done while the agent was down.', true]],
  );

  // Restarting hal-agent never stopped the session: no abort went to opencode from either agent.
  assert.deepEqual(
    proxy.requests.filter((q) => q.includes('/abort')),
    [],
  );
  // And the restarted agent still drives it.
  llm.script({ text: 'Third answer.' });
  const third = await command({ type: 'inject', session, prompt: 'third turn' });
  assert.equal(third.ok, true, JSON.stringify(third));
  await waitFor(() => completions(session).length === 3, {
    timeoutMs: 20_000,
    message: 'the third turn is seen live',
  });
  const live = completions(session).at(-1);
  assert.equal(live?.data.reconciled, undefined);
});

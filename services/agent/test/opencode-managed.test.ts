import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import type { EventRecord, HeartbeatPayload } from '@hal/protocol';
import { freePort, opencodeBinary, opencodeProjectConfig, startScriptedLlm, waitFor } from '@hal/testkit';
import { type Agent, createAgent } from '../src/index.ts';
import { type GatewayPeer, startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent', level: (process.env.HAL_TEST_LOG ?? 'silent') as 'silent' });
const actor = { kind: 'user', id: 'tester' };

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/global/health`, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

test('opencode managed - the agent starts opencode serve itself, restarts it after a SIGKILL (down, then up), and leaves it running when it stops', async (t) => {
  const llm = await startScriptedLlm({ titleText: 'Scripted title' });
  const root = mkdtempSync(join(tmpdir(), 'hal-agent-managed-'));
  let agent: Agent | undefined;
  let peer: GatewayPeer | undefined;
  const launched = new Set<number>();
  // One cleanup, in order: the agent first (it would relaunch a killed server), then every server it
  // launched — detached, each its own process group, outliving the agent — then the rest.
  t.after(async () => {
    await agent?.stop();
    for (const pid of launched) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await peer?.stop();
    await llm.stop();
    rmSync(root, { recursive: true, force: true });
  });
  const home = join(root, 'home');
  const project = join(root, 'projects', 'managed');
  mkdirSync(project, { recursive: true });
  writeFileSync(join(project, 'opencode.json'), JSON.stringify(opencodeProjectConfig(llm.url, 'allow')));
  spawnSync('git', ['init', '-q', project], { stdio: 'ignore' });
  const pidFile = join(root, 'opencode.pids');
  // The agent runs `<binary> serve --port P --hostname 127.0.0.1`: this wrapper gives that server a
  // temp HOME (the testkit's shared download cache) and records its pid, then execs the real binary.
  const cache = join(tmpdir(), 'hal-opencode-cache');
  const wrapper = join(root, 'opencode-wrapper.sh');
  writeFileSync(
    wrapper,
    [
      '#!/bin/sh',
      `echo $$ >> '${pidFile}'`,
      `export HOME='${home}' XDG_CONFIG_HOME='${home}/.config' XDG_DATA_HOME='${home}/.local/share'`,
      `export XDG_STATE_HOME='${home}/.local/state' XDG_CACHE_HOME='${cache}' npm_config_cache='${cache}/npm'`,
      'export OPENCODE_DISABLE_MODELS_FETCH=1 OPENCODE_DISABLE_LSP_DOWNLOAD=1',
      `exec '${opencodeBinary()}' "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(wrapper, 0o755);
  const pids = (): number[] => {
    const list = existsSync(pidFile)
      ? readFileSync(pidFile, 'utf8').split('\n').filter(Boolean).map(Number)
      : [];
    for (const pid of list) launched.add(pid);
    return list;
  };

  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  peer = await startGatewayPeer({ heartbeatIntervalSec: 0.5 });
  const dataDir = join(root, 'data');
  agent = createAgent({
    config: {
      node_id: 'node-managed',
      supervisor_url: peer.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: port,
      opencode: { url, manage: true, binary: wrapper },
      projects: [{ name: 'managed', directory: project }],
      data_dir: dataDir,
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 10_000_000 },
      reconnect: { initial_ms: 50, max_ms: 500 },
      command_timeout_ms: 20_000,
    },
    log,
    sseBackoff: { initialMs: 100, maxMs: 300 },
    // A stream opened while opencode boots can hang unanswered: retried after 2 s, not the default 10.
    sseOpenTimeoutMs: 2_000,
  });
  // The agent polls its server; the pid file is read on every poll of the test too.
  const poll = setInterval(pids, 50);
  t.after(() => clearInterval(poll));
  const agentEvents = (type: string): EventRecord[] => peer?.events.filter((e) => e.type === type) ?? [];
  /** The agent.opencode_down / _up events so far, as types. */
  const upDown = () =>
    (peer?.events ?? []).filter((e) => e.type.startsWith('agent.opencode_')).map((e) => e.type);
  const beats = () => peer.framesOf('heartbeat').map((f) => f.payload as HeartbeatPayload);

  assert.equal(await healthy(url), false, 'nothing serves the port before the agent starts');
  await agent.start();
  // Nothing answered at start ("down"); then the server the agent launched comes up. (A stream
  // request the booting server leaves unanswered may add a down/up pair in between.)
  await waitFor(() => upDown().at(-1) === 'agent.opencode_up', {
    timeoutMs: 25_000,
    message: 'the agent reports the opencode it started as up',
  });
  assert.equal(pids().length, 1, 'one opencode launched');
  const first = pids()[0] as number;
  assert.ok(alive(first));
  assert.equal(await healthy(url), true);
  assert.equal(upDown()[0], 'agent.opencode_down');
  assert.deepEqual(
    agentEvents('agent.opencode_up').map((e) => [e.data.url, e.project, e.session]),
    agentEvents('agent.opencode_up').map(() => [url, '', null]),
  );
  await waitFor(() => beats().at(-1)?.opencode_ok === true, { message: 'the heartbeat says opencode is ok' });
  assert.ok(existsSync(join(dataDir, 'opencode.log')), "the server's output goes to data_dir/opencode.log");
  // It serves the configured project with the scripted LLM.
  llm.script({ text: 'Managed hello.', usage: { prompt_tokens: 40, completion_tokens: 4 } });
  peer.sendCommand({
    command_id: 'start-1',
    command: { type: 'start', project: 'managed', prompt: 'hello' },
    actor,
    timeout_ms: 20_000,
  });
  const started = await peer.result('start-1', 21_000);
  assert.equal(started.ok, true, JSON.stringify(started));
  const session = String((started.data as { session: string }).session);
  // Live, or recovered by the reconcile of a stream that opened after the turn ended.
  const done = await waitFor(
    () => peer.events.find((e) => e.session === session && e.type === 'message.completed'),
    { timeoutMs: 20_000, message: 'the turn completes on the managed opencode' },
  );
  assert.equal((done.data.tokens as { output: number }).output, 4);

  // opencode dies: down, the agent launches a new one, up.
  const beforeKill = upDown().length;
  process.kill(first, 'SIGKILL');
  await waitFor(() => upDown()[beforeKill] === 'agent.opencode_down', {
    timeoutMs: 10_000,
    message: 'agent.opencode_down after the SIGKILL',
  });
  await waitFor(() => upDown().length > beforeKill + 1 && upDown().at(-1) === 'agent.opencode_up', {
    timeoutMs: 30_000,
    message: 'the agent restarted opencode and reports it up',
  });
  await waitFor(() => beats().at(-1)?.opencode_ok === true, { message: 'the heartbeat says ok again' });
  assert.equal(pids().length, 2, 'exactly one relaunch');
  const second = pids()[1] as number;
  assert.notEqual(second, first);
  assert.equal(await healthy(url), true);
  // The restarted server still has the session (opencode keeps them on disk).
  peer.sendCommand({
    command_id: 'status-1',
    command: { type: 'status', session },
    actor,
    timeout_ms: 10_000,
  });
  const status = await peer.result('status-1', 11_000);
  assert.equal(status.ok, true, JSON.stringify(status));

  // Documented (opencode-process.ts): stopping the agent leaves the managed server running, so
  // restarting hal-agent never stops an opencode session.
  await agent.stop();
  agent = undefined;
  assert.ok(alive(second), 'the managed opencode outlives the agent');
  assert.equal(await healthy(url), true);
  assert.equal(pids().length, 2, 'stopping launched nothing');
});

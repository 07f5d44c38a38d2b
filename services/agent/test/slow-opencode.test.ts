import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLogger } from '@hal/observability';
import type { HeartbeatPayload } from '@hal/protocol';
import {
  FakeClock,
  type OpencodeServer,
  type ScriptedLlm,
  startCuttingProxy,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import { createAgent } from '../src/index.ts';
import { startGatewayPeer } from './gateway-peer.ts';

// A slow or hung opencode: the real one (one for the file, it needs ~800 MB) behind a cutting proxy
// whose delay() holds every request; each test has its own proxy, gateway peer and agent.
const log = createLogger({ service: 'agent', level: 'silent' });
const actor = { kind: 'user', id: 'tester' };
let llm: ScriptedLlm;
let opencode: OpencodeServer;

before(async () => {
  llm = await startScriptedLlm();
  opencode = await startOpencode({ llm, projects: [{ name: 'p' }] });
});

after(async () => {
  await opencode?.stop();
  await llm?.stop();
});

/** An agent on the shared opencode through a proxy of its own, connected to a fresh gateway peer. */
async function slowSetup(
  t: { after(fn: () => unknown): void },
  config: { node_id: string; command_timeout_ms: number },
  peerOptions: Parameters<typeof startGatewayPeer>[0],
  deps: Partial<Pick<Parameters<typeof createAgent>[0], 'clock' | 'deadlineCheckMs' | 'healthTimeoutMs'>>,
) {
  const dataDir = mkdtempSync(join(tmpdir(), 'hal-agent-slow-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const proxy = await startCuttingProxy(opencode.url);
  t.after(() => proxy.stop());
  const peer = await startGatewayPeer(peerOptions);
  t.after(() => peer.stop());
  const agent = createAgent({
    config: {
      ...config,
      supervisor_url: peer.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: opencode.port,
      opencode: { url: proxy.url, manage: false, binary: 'opencode' },
      projects: opencode.projects,
      data_dir: dataDir,
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 10_000_000 },
      reconnect: { initial_ms: 50, max_ms: 200 },
    },
    log,
    ...deps,
  });
  t.after(() => agent.stop());
  await agent.start();
  return { proxy, peer, agent };
}

test('command timeout - a command slower than command_timeout_ms answers TIMEOUT at the deadline by the clock; others are served meanwhile and after', async (t) => {
  const clock = new FakeClock();
  const { proxy, peer, agent } = await slowSetup(
    t,
    { node_id: 'n-timeout', command_timeout_ms: 300 },
    {},
    // The timer never fires: deadlines move only with the clock and agent.tick().
    { clock, deadlineCheckMs: 3_600_000 },
  );
  await waitFor(() => agent.connection()?.ready(), { message: 'the agent is welcomed' });
  // Its deadline is set before its first opencode call goes out.
  const reachedOpencode = (from: number, pred: (request: string) => boolean) =>
    waitFor(() => proxy.requests.slice(from).some(pred), { message: 'the command reached opencode' });

  // Every opencode call now takes 3 s: the commands below are decided by the clock long before.
  proxy.delay(3_000);
  let asked = proxy.requests.length;
  peer.sendCommand({
    command_id: 'slow-start',
    command: { type: 'start', project: 'p', title: 'too slow' },
    actor,
    timeout_ms: 30_000,
  });
  await reachedOpencode(asked, (r) => r === 'POST /session');
  // A command that needs no opencode call is answered while the slow one still waits: commands
  // run off the read loop.
  peer.sendCommand({ command_id: 'quick-status', command: { type: 'status' }, actor, timeout_ms: 30_000 });
  const quick = await peer.result('quick-status', 2_000);
  assert.equal(quick.ok, true, JSON.stringify(quick));

  clock.advance(299);
  agent.tick();
  // A round trip through the agent: a TIMEOUT due at 299 ms would have been sent before it.
  peer.sendCommand({ command_id: 'quick-status-2', command: { type: 'status' }, actor, timeout_ms: 30_000 });
  await peer.result('quick-status-2', 2_000);
  assert.equal(peer.framesOf('command.result').length, 2, 'the slow command has not answered at 299 ms');

  // 300 ms by the clock: the gateway allowed 30 s; the agent's own bound wins.
  clock.advance(1);
  agent.tick();
  const slow = await peer.result('slow-start', 2_000);
  assert.deepEqual(slow, {
    command_id: 'slow-start',
    ok: false,
    error: { code: 'TIMEOUT', message: 'command start did not finish within 300 ms' },
  });

  // A shorter timeout from the gateway is honoured too.
  asked = proxy.requests.length;
  peer.sendCommand({
    command_id: 'short-kill',
    command: { type: 'kill', session: 'ses_any' },
    actor,
    timeout_ms: 100,
  });
  await reachedOpencode(asked, (r) => r.includes('ses_any'));
  clock.advance(100);
  agent.tick();
  const short = await peer.result('short-kill', 2_000);
  assert.deepEqual(short.error, { code: 'TIMEOUT', message: 'command kill did not finish within 100 ms' });

  // opencode answers again: the agent keeps serving, the next command succeeds.
  proxy.delay(0);
  peer.sendCommand({
    command_id: 'next-start',
    command: { type: 'start', project: 'p', title: 'in time' },
    actor,
    timeout_ms: 30_000,
  });
  const next = await peer.result('next-start', 10_000);
  assert.equal(next.ok, true, JSON.stringify(next));
  const data = next.data as { session: string; project: string; title: string; prompted: boolean };
  assert.match(data.session, /^ses_/);
  assert.deepEqual(
    { ...data, session: 'x' },
    { session: 'x', project: 'p', title: 'in time', prompted: false },
  );
  assert.ok(agent.connection()?.ready(), 'the socket stayed up through the timeouts');
});

test('agent heartbeat - a hung opencode never delays the heartbeat; opencode_ok turns false after the probe deadline', async (t) => {
  const { proxy, peer } = await slowSetup(
    t,
    { node_id: 'n-hb', command_timeout_ms: 5_000 },
    // The gateway's welcome sets the interval: 0.3 s, so the old 10 s health wait would stand out.
    { heartbeatIntervalSec: 0.3 },
    { healthTimeoutMs: 500 },
  );
  const beats = () => peer.framesOf('heartbeat').map((f) => f.payload as HeartbeatPayload);
  await waitFor(() => beats().some((b) => b.opencode_ok), { message: 'a heartbeat says opencode is ok' });

  // Every call to opencode now takes 4 s — longer than three heartbeat intervals.
  proxy.delay(4_000);
  const before = beats().length;
  const hungAt = Date.now();
  await waitFor(() => beats().length >= before + 3, {
    timeoutMs: 3_000,
    message: 'three heartbeats while opencode hangs',
  });
  assert.ok(Date.now() - hungAt < 3_000);
  const late = await waitFor(
    () =>
      beats()
        .slice(before)
        .find((b) => !b.opencode_ok),
    {
      timeoutMs: 3_000,
      message: 'a heartbeat reports opencode not ok once the probe deadline passed',
    },
  );
  assert.equal(late.opencode_ok, false);
  assert.equal(typeof late.spool_depth, 'number');

  // opencode answers again: the next probes see it.
  proxy.delay(0);
  await waitFor(() => beats().at(-1)?.opencode_ok === true, {
    timeoutMs: 6_000,
    message: 'opencode_ok back to true once opencode answers again',
  });
});

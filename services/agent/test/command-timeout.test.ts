import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { FakeClock, startFakeOpencode, waitFor } from '@hal/testkit';
import { createAgent } from '../src/index.ts';
import { startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent', level: 'silent' });
const actor = { kind: 'user', id: 'tester' };

test('command timeout - a command slower than command_timeout_ms answers TIMEOUT at the deadline by the clock; others are served meanwhile and after', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-timeout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = await startFakeOpencode({ defaultDirectory: dir });
  t.after(() => fake.stop());
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const clock = new FakeClock();
  const agent = createAgent({
    config: {
      node_id: 'n-timeout',
      supervisor_url: peer.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: fake.port,
      opencode: { url: fake.url, manage: false, binary: 'opencode' },
      projects: [{ name: 'p', directory: dir }],
      data_dir: join(dir, 'data'),
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 10_000_000 },
      reconnect: { initial_ms: 50, max_ms: 200 },
      command_timeout_ms: 300,
    },
    log,
    clock,
    // The timer never fires: deadlines move only with the clock and agent.tick().
    deadlineCheckMs: 3_600_000,
  });
  t.after(() => agent.stop());
  await agent.start();
  await waitFor(() => agent.connection()?.ready(), { message: 'the agent is welcomed' });
  // Its deadline is set before its first opencode call goes out.
  const reachedOpencode = (from: number, pred: (r: { method: string; path: string }) => boolean) =>
    waitFor(() => fake.requests.slice(from).some(pred), { message: 'the command reached opencode' });

  // Every opencode answer now takes 3 s: the commands below are decided by the clock long before.
  fake.delay(3_000);
  let asked = fake.requests.length;
  peer.sendCommand({
    command_id: 'slow-start',
    command: { type: 'start', project: 'p', title: 'too slow' },
    actor,
    timeout_ms: 30_000,
  });
  await reachedOpencode(asked, (r) => r.method === 'POST' && r.path === '/session');
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
  asked = fake.requests.length;
  peer.sendCommand({
    command_id: 'short-kill',
    command: { type: 'kill', session: 'ses_any' },
    actor,
    timeout_ms: 100,
  });
  await reachedOpencode(asked, (r) => r.path.includes('ses_any'));
  clock.advance(100);
  agent.tick();
  const short = await peer.result('short-kill', 2_000);
  assert.deepEqual(short.error, { code: 'TIMEOUT', message: 'command kill did not finish within 100 ms' });

  // opencode answers again: the agent keeps serving, the next command succeeds.
  fake.delay(0);
  peer.sendCommand({
    command_id: 'next-start',
    command: { type: 'start', project: 'p', title: 'in time' },
    actor,
    timeout_ms: 30_000,
  });
  const next = await peer.result('next-start', 3_000);
  assert.equal(next.ok, true, JSON.stringify(next));
  const data = next.data as { session: string; project: string; title: string; prompted: boolean };
  assert.match(data.session, /^ses_/);
  assert.deepEqual(
    { ...data, session: 'x' },
    { session: 'x', project: 'p', title: 'in time', prompted: false },
  );
  assert.ok(agent.connection()?.ready(), 'the socket stayed up through the timeouts');
});

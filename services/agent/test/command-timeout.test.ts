import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { startFakeOpencode, waitFor } from '@hal/testkit';
import { createAgent } from '../src/index.ts';
import { startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent', level: 'silent' });
const actor = { kind: 'user', id: 'tester' };

test('command timeout - a command slower than command_timeout_ms answers TIMEOUT; others are served meanwhile and after', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-timeout-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = await startFakeOpencode({ defaultDirectory: dir });
  t.after(() => fake.stop());
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
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
  });
  t.after(() => agent.stop());
  await agent.start();
  await waitFor(() => agent.connection()?.ready(), { message: 'the agent is welcomed' });

  // Every opencode answer now takes 1.5 s, five times the agent's command timeout.
  fake.delay(1_500);
  const sentAt = Date.now();
  peer.sendCommand({
    command_id: 'slow-start',
    command: { type: 'start', project: 'p', title: 'too slow' },
    actor,
    timeout_ms: 30_000,
  });
  // A command that needs no opencode call is answered while the slow one still waits: commands
  // run off the read loop.
  peer.sendCommand({ command_id: 'quick-status', command: { type: 'status' }, actor, timeout_ms: 30_000 });
  const quick = await peer.result('quick-status', 2_000);
  assert.equal(quick.ok, true, JSON.stringify(quick));
  assert.equal(peer.framesOf('command.result').length, 1, 'the slow command has not answered yet');

  const slow = await peer.result('slow-start', 3_000);
  const tookMs = Date.now() - sentAt;
  // The gateway allowed 30 s; the agent's own bound (300 ms) wins, long before opencode answers.
  assert.ok(tookMs >= 280 && tookMs < 1_400, `answered after ${tookMs} ms`);
  assert.deepEqual(slow, {
    command_id: 'slow-start',
    ok: false,
    error: { code: 'TIMEOUT', message: 'command start did not finish within 300 ms' },
  });

  // A shorter timeout from the gateway is honoured too.
  fake.delay(800);
  peer.sendCommand({
    command_id: 'short-kill',
    command: { type: 'kill', session: 'ses_any' },
    actor,
    timeout_ms: 100,
  });
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

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

// Every opencode call is a round trip on the command's critical path: inject and resume to a
// session the agent already knows make exactly one (prompt_async answers 404 for an unknown
// session itself), and a session it does not know is still looked up and refused honestly.
test('commands - inject to a known session is one opencode call; an unknown one is looked up and refused', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-calls-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = await startFakeOpencode({ defaultDirectory: dir });
  t.after(() => fake.stop());
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const agent = createAgent({
    config: {
      node_id: 'n-calls',
      supervisor_url: peer.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: fake.port,
      opencode: { url: fake.url, manage: false, binary: 'opencode' },
      projects: [{ name: 'p', directory: dir }],
      data_dir: join(dir, 'data'),
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 10_000_000 },
      reconnect: { initial_ms: 50, max_ms: 200 },
      command_timeout_ms: 5_000,
    },
    log,
  });
  t.after(() => agent.stop());
  await agent.start();
  await waitFor(() => agent.connection()?.ready(), { message: 'the agent is welcomed' });

  peer.sendCommand({ command_id: 'c1', command: { type: 'start', project: 'p' }, actor, timeout_ms: 5_000 });
  const started = await peer.result('c1', 5_000);
  assert.equal(started.ok, true, JSON.stringify(started));
  const session = (started as { data: { session: string } }).data.session;
  await waitFor(
    () =>
      peer
        .framesOf('events')
        .some((f) =>
          (f.payload as { events: Array<{ session: string | null }> }).events.some(
            (e) => e.session === session,
          ),
        ),
    { message: 'the agent knows the new session from its events' },
  );

  for (const [id, type] of [
    ['c2', 'inject'],
    ['c3', 'resume'],
  ] as const) {
    const from = fake.requests.length;
    peer.sendCommand({
      command_id: id,
      command: { type, session, prompt: 'go on' },
      actor,
      timeout_ms: 5_000,
    });
    const r = await peer.result(id, 5_000);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.deepEqual(
      fake.requests.slice(from).map((q) => `${q.method} ${q.path}`),
      [`POST /session/${session}/prompt_async`],
      `${type}: one call`,
    );
  }

  peer.sendCommand({
    command_id: 'c4',
    command: { type: 'inject', session: 'ses_nope', prompt: 'hi' },
    actor,
    timeout_ms: 5_000,
  });
  const unknown = await peer.result('c4', 5_000);
  assert.equal(unknown.ok, false);
  assert.equal((unknown as { error: { code: string } }).error.code, 'SESSION_NOT_FOUND');
});

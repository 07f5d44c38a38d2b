import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import type { HeartbeatPayload } from '@hal/protocol';
import { startFakeOpencode, waitFor } from '@hal/testkit';
import { createAgent } from '../src/index.ts';
import { startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent', level: 'silent' });

test('agent heartbeat - a hung opencode never delays the heartbeat; opencode_ok turns false after the probe deadline', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-hb-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const fake = await startFakeOpencode({ defaultDirectory: dir });
  t.after(() => fake.stop());
  // The gateway's welcome sets the interval: 0.3 s, so the old 10 s health wait would stand out.
  const peer = await startGatewayPeer({ heartbeatIntervalSec: 0.3 });
  t.after(() => peer.stop());
  const agent = createAgent({
    config: {
      node_id: 'n-hb',
      supervisor_url: peer.url,
      auth_token: 'agent-token-0123456789abcdef',
      opencode_port: fake.port,
      opencode: { url: fake.url, manage: false, binary: 'opencode' },
      projects: [{ name: 'p', directory: dir }],
      data_dir: join(dir, 'data'),
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 10_000_000 },
      reconnect: { initial_ms: 50, max_ms: 200 },
      command_timeout_ms: 5000,
    },
    log,
    healthTimeoutMs: 500,
  });
  t.after(() => agent.stop());
  await agent.start();
  const beats = () => peer.framesOf('heartbeat').map((f) => f.payload as HeartbeatPayload);
  await waitFor(() => beats().some((b) => b.opencode_ok), { message: 'a heartbeat says opencode is ok' });

  // Every answer of opencode now takes 4 s — longer than three heartbeat intervals.
  fake.delay(4_000);
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
  fake.delay(0);
  await waitFor(() => beats().at(-1)?.opencode_ok === true, {
    timeoutMs: 6_000,
    message: 'opencode_ok back to true once opencode answers again',
  });
});

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compiledEntry, waitFor } from '@hal/testkit';
import { plaintextSupervisorWarning } from '../src/supervisor-url.ts';

// hal-agent's main, compiled once by testkit's compiledEntry (what a built install runs), not through tsx.
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

test('agent supervisor url - ws:// to another host warns that the token crosses the network in clear', () => {
  for (const url of ['ws://10.0.0.5:8420', 'ws://hal.example.com:8420', 'ws://[2001:db8::1]:8420']) {
    const warning = plaintextSupervisorWarning(url);
    assert.match(
      warning ?? '',
      /^supervisor_url uses ws:\/\/ to .+, which is not this host: .*use wss:\/\//,
      url,
    );
  }
});

test('agent supervisor url - loopback ws:// and any wss:// are quiet', () => {
  for (const url of [
    'ws://127.0.0.1:8420',
    'ws://127.1.2.3:8420',
    'ws://localhost:8420',
    'ws://[::1]:8420',
    'wss://hal.example.com',
    'wss://10.0.0.5:8420',
  ]) {
    assert.equal(plaintextSupervisorWarning(url), undefined, url);
  }
});

test('agent supervisor url - hal-agent logs the warning at start-up', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-wsurl-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'agent.config.json');
  writeFileSync(
    config,
    JSON.stringify({
      // TEST-NET-1 (RFC 5737): never routed, so nothing is reached.
      supervisor_url: 'ws://192.0.2.10:8420',
      auth_token: 'w'.repeat(32),
      data_dir: join(dir, 'data'),
      opencode: { url: 'http://127.0.0.1:1' },
      projects: [{ name: '프로젝트', directory: dir }],
    }),
  );
  const child = spawn(process.execPath, [await compiledEntry(MAIN), '--config', config], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.after(() => child.kill('SIGKILL'));
  let out = '';
  child.stdout.on('data', (b: Buffer) => {
    out += b.toString();
  });
  const line = await waitFor(() => out.split('\n').find((l) => l.includes('supervisor_url uses ws://')), {
    timeoutMs: 30_000,
    message: 'no plaintext warning in the agent log',
  });
  const record = JSON.parse(line) as { level: number; supervisor_url: string; msg: string };
  assert.equal(record.level, 40, 'logged as a warning');
  assert.equal(record.supervisor_url, 'ws://192.0.2.10:8420');
  assert.match(record.msg, /192\.0\.2\.10, which is not this host/);
});

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '@hal/testkit';

// hal-agent's main, compiled once by testkit's compiledEntry (what a built install runs), not through tsx.
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

test('hal-agent - a config with several mistakes names every one of them, not only the first, and exits 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-main-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'agent.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      auth_token: 'short',
      supervisor_url: 'http://nope',
      projects: [],
      heartbeat_interval_sec: 0,
    }),
  );
  const run = spawnSync(process.execPath, [await compiledEntry(MAIN), '--config', file], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  });
  assert.equal(run.status, 1, run.stderr);
  assert.equal(run.stdout, '');
  for (const key of ['auth_token', 'supervisor_url', 'projects', 'heartbeat_interval_sec']) {
    assert.match(run.stderr, new RegExp(`^${key}: `, 'm'), `${key} is named`);
  }
  assert.match(run.stderr, /^4 problem\(s\) found in the agent config$/m);
});

test('hal-agent - an unknown flag exits 2 with the usage', async () => {
  const run = spawnSync(process.execPath, [await compiledEntry(MAIN), '--conifg', 'x.json'], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 60_000,
  });
  assert.equal(run.status, 2);
  assert.match(run.stderr, /Unknown option '--conifg'/);
  assert.match(run.stderr, /^usage: hal-agent \[--config agent\.config\.json\] \[--validate\]$/m);
});

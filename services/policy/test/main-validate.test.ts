import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '@hal/testkit';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

test('hal-policy --validate - bad rules fail with their key paths and exit code 1', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-policy-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'supervisor.config.json');
  writeFileSync(
    file,
    JSON.stringify({
      server: { auth_token: 'a'.repeat(32) },
      policies: { nap_on_idle: {}, resume_on_idle: { idle_threshold_seconds: -1 } },
      routes: [{ match: 'session.error', target: 'webhook#nowhere' }],
    }),
  );
  const run = spawnSync(process.execPath, [await compiledEntry(MAIN), '--validate', '--config', file], {
    encoding: 'utf8',
    env: { PATH: process.env.PATH ?? '' },
    timeout: 30_000,
  });
  assert.equal(run.status, 1);
  assert.equal(run.stdout, '');
  assert.match(run.stderr, /^policies\.nap_on_idle: unknown key/m);
  assert.match(
    run.stderr,
    /^policies\.resume_on_idle\.idle_threshold_seconds: must be greater than 0, got -1/m,
  );
  assert.match(
    run.stderr,
    /^routes\[0\]\.target: unknown target "webhook#nowhere": no webhooks\.nowhere is configured/m,
  );
  assert.match(run.stderr, /^3 problem\(s\) found in the supervisor config$/m);
});

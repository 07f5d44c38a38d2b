import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { waitFor } from '@hal/testkit';
import { pressCtrlC, startNpmStart, status } from './npm-start-harness.ts';

test('npm start - a run with an existing config does not print the token again but says where it is', {
  timeout: 300_000,
}, async (t) => {
  const token = 'c'.repeat(64);
  let written = '';
  const run = await startNpmStart(t, (home) => {
    written = `${JSON.stringify({ data_dir: join(home, 'data'), server: { auth_token: token } }, null, 2)}\n`;
    writeFileSync(join(home, 'supervisor.config.json'), written, { mode: 0o600 });
  });
  const configFile = join(run.home, 'supervisor.config.json');
  await waitFor(() => run.output().includes('Ctrl-C stops everything.'), {
    timeoutMs: 120_000,
    intervalMs: 200,
    message: `start.mjs never printed its summary; output:\n${run.output()}`,
  });
  const out = run.output();
  assert.ok(out.includes(`  auth token    in ${configFile} (server.auth_token)`), out);
  assert.ok(!out.includes(token), 'the stored token is not printed');
  assert.ok(!out.includes('shown once'), out);
  assert.equal(readFileSync(configFile, 'utf8'), written, 'the existing config is left as it was');
  assert.equal(await status(`${run.httpBase}/readyz`), 200);

  await pressCtrlC(run);
});

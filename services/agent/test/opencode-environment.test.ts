import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { waitFor } from '@hal/testkit';
import { createOpencodeProcess } from '../src/index.ts';

const log = createLogger({ service: 'agent', level: 'silent' });
const TOKEN = 'hal_node_agent-secret-0123456789';

test('opencode environment - a managed opencode starts without HAL_* variables or the agent token', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-oc-env-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  // Stands in for `opencode serve`: records its environment, then waits to be stopped.
  const binary = join(dir, 'fake-opencode');
  writeFileSync(binary, `#!/bin/sh\nenv > "${join(dir, 'env.txt')}"\nexec sleep 30\n`);
  chmodSync(binary, 0o755);
  const proc = createOpencodeProcess({
    binary,
    port: 1,
    cwd: dir,
    logFile: join(dir, 'opencode.log'),
    password: 'opencode-server-password',
    log,
    onState: () => undefined,
    health: async () => false,
    checkIntervalMs: 60_000,
    stopServerOnStop: true,
    secrets: [TOKEN],
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      HAL_AUTH_TOKEN: TOKEN,
      HAL_AUTH_TOKEN_FILE: '/etc/hal-o-swarm/agent.token',
      HAL_SUPERVISOR_URL: 'ws://gw:8420',
      hal_lowercase: 'x',
      CI_DEPLOY_SECRET: `Bearer ${TOKEN}`,
      LANG: 'C.UTF-8',
    },
  });
  t.after(() => proc.stop());
  await proc.start();
  const text = await waitFor(
    () => {
      try {
        const t2 = readFileSync(join(dir, 'env.txt'), 'utf8');
        return t2.includes('LANG=') ? t2 : undefined;
      } catch {
        return undefined;
      }
    },
    { message: 'the fake opencode wrote its environment' },
  );
  const names = text
    .split('\n')
    .filter((l) => l.includes('='))
    .map((l) => l.slice(0, l.indexOf('=')));
  assert.deepEqual(
    names.filter((n) => /^hal_/i.test(n)),
    [],
  );
  assert.equal(text.includes(TOKEN), false, 'no variable carries the agent token, whatever its name');
  assert.ok(names.includes('LANG') && names.includes('PATH'), 'the rest of the environment is kept');
  assert.match(text, /^OPENCODE_SERVER_PASSWORD=opencode-server-password$/m);
  assert.match(text, /^OPENCODE_DISABLE_AUTOUPDATE=1$/m);
});

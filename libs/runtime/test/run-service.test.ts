import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { NatsUser, natsPermissions } from '@hal/protocol';
import { compiledEntry, freePort, startNats, waitFor } from '@hal/testkit';

const FIXTURE = fileURLToPath(new URL('./fixtures/demo-service.ts', import.meta.url));
const TOKEN = 'r'.repeat(40);

// Compiled once (testkit's compiledEntry), not through tsx: five starts of the same fixture.
async function run(t: TestContext, args: string[]) {
  const child: ChildProcess = spawn(process.execPath, [await compiledEntry(FIXTURE), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr?.on('data', (b: Buffer) => {
    stderr += b.toString();
  });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.after(() => child.kill('SIGKILL'));
  return { child, done, stdout: () => stdout, stderr: () => stderr };
}

function configFile(t: TestContext, body: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'hal-runtime-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'supervisor.config.json');
  writeFileSync(file, JSON.stringify(body));
  return file;
}

test('runtime - a standalone service on a NATS with users (nats.user + password_file, its table permissions) serves /readyz, starts its parts and stops cleanly on SIGTERM', async (t) => {
  // As an operator would run it: the tracker's user with the permissions of the protocol's table,
  // anonymous clients refused.
  const nats = await startNats({
    auth: {
      users: [{ user: NatsUser.TRACKER, password: 'tracker-pw-1', permissions: natsPermissions.tracker }],
    },
  });
  t.after(() => nats.stop());
  const httpPort = await freePort();
  const secrets = mkdtempSync(join(tmpdir(), 'hal-runtime-secret-'));
  t.after(() => rmSync(secrets, { recursive: true, force: true }));
  writeFileSync(join(secrets, 'nats-password'), 'tracker-pw-1\n', { mode: 0o600 });
  const file = configFile(t, {
    data_dir: join(tmpdir(), `hal-runtime-data-${process.pid}`),
    nats: { url: nats.url, user: NatsUser.TRACKER, password_file: join(secrets, 'nats-password') },
    server: { auth_token: TOKEN, http_port: httpPort },
  });
  const proc = await run(t, ['--config', file, '--loud']);
  const ready = await waitFor(
    async () => {
      const res = await fetch(`http://127.0.0.1:${httpPort}/readyz`).catch(() => undefined);
      return res?.status === 200 ? ((await res.json()) as { checks: Array<{ name: string }> }) : undefined;
    },
    { timeoutMs: 20_000, message: 'the service never became ready' },
  );
  assert.deepEqual(ready.checks.map((c) => c.name).sort(), ['demo', 'nats', 'streams']);
  assert.match(proc.stdout(), /"service":"demo".*"loud":true.*"msg":"demo part started"/);
  proc.child.kill('SIGTERM');
  assert.equal(await proc.done, 0);
  assert.match(proc.stdout(), /"msg":"demo part stopped"[\s\S]*"msg":"stopped"/);
});

test('runtime - bad arguments exit 2 with the usage; a missing nats.url exits 1 naming the key, and --validate refuses it', async (t) => {
  const bad = await run(t, ['--nope']);
  assert.equal(await bad.done, 2);
  assert.match(bad.stderr(), /Unknown option '--nope'/);
  assert.match(bad.stderr(), /usage: hal-demo \[--config supervisor.config.json\] \[--validate\] \[--loud\]/);

  const file = configFile(t, { server: { auth_token: TOKEN, http_port: await freePort() } });
  const noNats = await run(t, ['--config', file]);
  assert.equal(await noNats.done, 1);
  assert.match(noNats.stderr(), /^nats\.url: required when a service runs on its own/m);
  // --validate says it too, instead of passing a config the service would restart-loop on.
  const validate = await run(t, ['--config', file, '--validate']);
  assert.equal(await validate.done, 1);
  assert.equal(
    validate.stderr(),
    'nats.url: required when a service runs on its own (only hal-supervisor embeds NATS)\n' +
      '1 problem(s) found in the supervisor config\n',
  );
  assert.equal(validate.stdout(), '');

  const broken = configFile(t, { server: { auth_token: 'short' } });
  const invalid = await run(t, ['--config', broken]);
  assert.equal(await invalid.done, 1);
  assert.match(invalid.stderr(), /^server\.auth_token: /m);
  assert.match(invalid.stderr(), /^1 problem\(s\) found in the supervisor config$/m);
});

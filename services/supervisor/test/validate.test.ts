import assert from 'node:assert/strict';
import { test } from 'node:test';
import { spawnSupervisor, TOKEN, tempDir, writeJson } from './supervisor-fixtures.ts';

test('supervisor validate - three mistakes are named with their key paths and exit 1', async () => {
  const dir = tempDir();
  const file = writeJson(dir, 'supervisor.config.json', {
    server: { auth_token: TOKEN, http_port: 70000 },
    heartbeat_intervall_sec: 10,
    security: { audit: { retention_days: 'ninety' } },
  });
  const { code, stdout, stderr } = await (await spawnSupervisor(['--config', file, '--validate'], dir)).done;
  assert.equal(code, 1);
  assert.equal(stdout, '');
  const lines = stderr.trim().split('\n');
  assert.match(stderr, /^server\.http_port: must be at most 65535, got 70000; /m);
  assert.match(stderr, /^heartbeat_intervall_sec: unknown key \(did you mean "heartbeat_interval_sec"\?\)/m);
  assert.match(stderr, /^security\.audit\.retention_days: must be a number, got "ninety" \(string\); /m);
  assert.equal(lines.at(-1), '3 problem(s) found in the supervisor config');
});

test('supervisor validate - broken JSON names the line and column', async () => {
  const dir = tempDir();
  const file = writeJson(dir, 'bad.json', '{\n  "server": { "auth_token": "x", }\n}\n');
  const { code, stderr } = await (await spawnSupervisor(['--config', file, '--validate'], dir)).done;
  assert.equal(code, 1);
  assert.match(
    stderr,
    /^.*bad\.json: invalid JSON at line 2, column 34: Expected double-quoted property name; nothing in this file was loaded$/m,
  );
});

test('supervisor validate - a valid file exits 0 and prints the effective config with secrets masked', async () => {
  const dir = tempDir();
  const file = writeJson(dir, 'supervisor.config.json', {
    server: { auth_token: TOKEN },
    cost: { providers: { anthropic: { admin_api_key: 'sk-ant-admin-secret' } } },
  });
  const { code, stdout, stderr } = await (await spawnSupervisor(['--config', file, '--validate'], dir)).done;
  assert.equal(code, 0, stderr);
  const printed = JSON.parse(stdout);
  assert.equal(printed.server.auth_token, '***');
  assert.equal(printed.cost.providers.anthropic.admin_api_key, '***');
  assert.equal(printed.server.http_port, 8421);
  assert.equal(stdout.includes(TOKEN) || stdout.includes('sk-ant-admin-secret'), false);
});

test('supervisor cli - an unknown flag is refused with the usage and exit code 2', async () => {
  const dir = tempDir();
  const { code, stderr } = await (await spawnSupervisor(['--confg', 'x.json'], dir)).done;
  assert.equal(code, 2);
  assert.match(stderr, /Unknown option '--confg'/);
  assert.match(stderr, /^usage: hal-supervisor \[--config supervisor\.config\.json\] \[--validate\]$/m);
});

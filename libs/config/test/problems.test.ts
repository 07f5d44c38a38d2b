import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, runValidate } from '@hal/config';
import { HalError } from '@hal/protocol';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

test('config problems - broken JSON is reported with line and column', (t) => {
  const { dir, write } = tempDir(t);
  const file = write('s.json', '{\n  "server": {\n    "port": 8420,\n    "http_port" 8421\n  }\n}\n');
  const err = memorySink();
  const code = runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir });
  assert.equal(code, 1);
  assert.match(err.text(), /^.*s\.json: invalid JSON at line 4, column 17: /m);
});

test('config problems - three different mistakes are all reported with their key paths', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    's.json',
    JSON.stringify({
      server: { auth_token: 'short', port: 'eighty' },
      heartbeat_timeout_count: -1,
    }),
  );
  try {
    loadConfig('supervisor', { file, env: {}, cwd: dir });
    assert.fail('expected a ConfigError');
  } catch (e) {
    assert.ok(e instanceof ConfigError && e instanceof HalError);
    assert.equal(e.code, 'CONFIG_INVALID');
    const byPath = new Map(e.problems.map((p) => [p.path, p.message]));
    assert.deepEqual([...byPath.keys()].sort(), [
      'heartbeat_timeout_count',
      'server.auth_token',
      'server.port',
    ]);
    assert.equal(
      byPath.get('server.port'),
      'must be a number, got "eighty" (string); the supervisor will not start until this is fixed',
    );
    assert.equal(
      byPath.get('server.auth_token'),
      'must be at least 16 characters, got a hidden value; the supervisor will not start until this is fixed',
    );
    assert.equal(
      byPath.get('heartbeat_timeout_count'),
      'must be greater than 0, got -1; the supervisor will not start until this is fixed',
    );
    assert.deepEqual((e.details as { issues: unknown[] }).issues, e.problems);
  }
});

test('config problems - unknown keys are rejected at every level, with a suggestion', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    's.json',
    JSON.stringify({
      server: { auth_token: TOKEN, prot: 1 },
      policies: { resume_on_idel: { enabled: true }, node_offline: { after_secs: 5 } },
      colour: 'red',
    }),
  );
  const err = memorySink();
  assert.equal(runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir }), 1);
  const lines = err.text().trim().split('\n');
  assert.deepEqual(
    lines
      .map((l) => l.slice(0, l.indexOf(':')))
      .slice(0, -1)
      .sort(),
    ['colour', 'policies.node_offline.after_secs', 'policies.resume_on_idel', 'server.prot'],
  );
  assert.ok(
    lines.includes(
      'server.prot: unknown key (did you mean "port"?): it would be ignored, so the setting you meant does not apply; the supervisor will not start until this is fixed',
    ),
  );
  assert.ok(
    lines.some((l) => l.startsWith('policies.resume_on_idel: unknown key (did you mean "resume_on_idle"?)')),
  );
  assert.equal(lines.at(-1), '4 problem(s) found in the supervisor config');
});

test('config problems - policy mistakes and an unknown route target are reported together', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    's.json',
    JSON.stringify({
      server: { auth_token: TOKEN },
      policies: { sleep_on_idle: {}, resume_on_idle: { idle_threshold_seconds: -5 } },
      routes: [
        { match: 'session.error', target: 'webhook#pager' },
        { match: '*', target: 'email#x' },
      ],
    }),
  );
  const err = memorySink();
  assert.equal(runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir }), 1);
  const text = err.text();
  assert.match(text, /^policies\.sleep_on_idle: unknown key/m);
  assert.match(text, /^policies\.resume_on_idle\.idle_threshold_seconds: must be greater than 0, got -5/m);
  assert.match(
    text,
    /^routes\[0\]\.target: unknown target "webhook#pager": no webhooks\.pager is configured/m,
  );
  assert.match(text, /^routes\[1\]\.target: must be "discord#<route>" or "webhook#<name>", got "email#x"/m);
});

test('config problems - tls enabled without files, and a missing config file', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    's.json',
    JSON.stringify({ server: { auth_token: TOKEN }, security: { tls: { enabled: true } } }),
  );
  const err = memorySink();
  assert.equal(runValidate('supervisor', file, memorySink(), err, { env: {}, cwd: dir }), 1);
  assert.match(err.text(), /^security\.tls\.cert_path: is required when security\.tls\.enabled is true/m);
  assert.match(err.text(), /^security\.tls\.key_path: is required when security\.tls\.enabled is true/m);
  const missing = memorySink();
  assert.equal(runValidate('agent', 'nope.json', memorySink(), missing, { env: {}, cwd: dir }), 1);
  assert.match(missing.text(), /^nope\.json: cannot read the config file ".*nope\.json" \(ENOENT\)$/m);
});

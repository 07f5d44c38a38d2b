import assert from 'node:assert/strict';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '@hal/config';
import { TOKEN, tempDir } from './fixtures.ts';

test('config defaults - supervisor gets every default and a frozen object', (t) => {
  const { dir, write } = tempDir(t);
  const file = write('supervisor.config.json', JSON.stringify({ server: { auth_token: TOKEN } }));
  const c = loadConfig('supervisor', { file, env: {}, cwd: dir });
  assert.equal(c.data_dir, join(dir, '.hal/data'));
  assert.equal(c.nats.url, undefined);
  assert.equal(c.nats.embedded_port, 4222);
  assert.deepEqual(
    { ...c.server },
    {
      host: '127.0.0.1',
      port: 8420,
      http_host: '127.0.0.1',
      http_port: 8421,
      auth_token: TOKEN,
      metrics_public: false,
      dashboard: true,
      max_body_bytes: 1048576,
    },
  );
  assert.equal(c.heartbeat_interval_sec, 30);
  assert.equal(c.heartbeat_timeout_count, 3);
  assert.equal(c.channels.discord, undefined);
  assert.equal(c.cost.poll_interval_minutes, 60);
  assert.equal(c.cost.warn_share, 0.8);
  assert.deepEqual(c.cost.budgets, []);
  assert.equal(c.policies.resume_on_idle.idle_threshold_seconds, 300);
  assert.equal(c.policies.resume_on_idle.max_retries, 3);
  assert.equal(c.policies.resume_on_idle.dry_run, false);
  assert.equal(c.policies.node_offline.enabled, true);
  assert.ok(c.routes.some((r) => r.match === 'session.error' && r.target === 'discord#alerts'));
  assert.deepEqual(c.webhooks, {});
  assert.equal(c.security.tls.enabled, false);
  assert.deepEqual(c.security.origin_allowlist, []);
  assert.deepEqual({ ...c.security.audit }, { enabled: true, retention_days: 90 });
  assert.equal(c.log_level, 'info');
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.server) && Object.isFrozen(c.routes));
  assert.throws(() => {
    (c.server as { port: number }).port = 1;
  }, TypeError);
});

test('config defaults - agent fills node_id, opencode url from its port, and absolute paths', (t) => {
  const { dir, write } = tempDir(t);
  const file = write(
    'agent.config.json',
    JSON.stringify({
      auth_token: TOKEN,
      opencode_port: 5000,
      projects: [{ name: 'demo', directory: 'demo' }],
    }),
  );
  const c = loadConfig('agent', { file, env: {}, cwd: dir });
  assert.equal(c.node_id, hostname());
  assert.equal(c.supervisor_url, 'ws://127.0.0.1:8420');
  assert.equal(c.opencode.url, 'http://127.0.0.1:5000');
  assert.equal(c.opencode.manage, false);
  assert.equal(c.opencode.binary, 'opencode');
  assert.deepEqual(c.projects, [{ name: 'demo', directory: join(dir, 'demo') }]);
  assert.equal(c.data_dir, join(dir, '.hal/agent'));
  assert.equal(c.spool.max_bytes, 256 * 1024 * 1024);
  assert.deepEqual({ ...c.reconnect }, { initial_ms: 500, max_ms: 30000 });
  assert.equal(c.command_timeout_ms, 60000);
  assert.equal(c.heartbeat_interval_sec, 30);
});

test('config defaults - agent rejects an empty project list and duplicate names', (t) => {
  const { dir, write } = tempDir(t);
  const empty = write('a.json', JSON.stringify({ auth_token: TOKEN, projects: [] }));
  assert.throws(
    () => loadConfig('agent', { file: empty, env: {}, cwd: dir }),
    (err: { code: string; problems: { path: string; message: string }[] }) =>
      err.code === 'CONFIG_INVALID' &&
      err.problems.some((p) => p.path === 'projects' && p.message.startsWith('needs at least 1 item(s)')),
  );
  const dup = write(
    'b.json',
    JSON.stringify({
      auth_token: TOKEN,
      projects: [
        { name: 'x', directory: '/a' },
        { name: 'x', directory: '/b' },
      ],
    }),
  );
  assert.throws(
    () => loadConfig('agent', { file: dup, env: {}, cwd: dir }),
    (err: { problems: { path: string; message: string }[] }) =>
      err.problems.some(
        (p) => p.path === 'projects[1].name' && p.message.includes('duplicate project name "x"'),
      ),
  );
});

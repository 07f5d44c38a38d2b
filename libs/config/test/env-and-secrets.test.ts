import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '@hal/config';
import { TOKEN, tempDir } from './fixtures.ts';

test('config env - HAL_* overrides nested keys with values coerced to the schema type', (t) => {
  const { dir, write } = tempDir(t);
  const file = write('s.json', JSON.stringify({ server: { auth_token: TOKEN, port: 1 } }));
  const c = loadConfig('supervisor', {
    file,
    cwd: dir,
    env: {
      HAL_SERVER__PORT: '9000',
      HAL_SERVER__METRICS_PUBLIC: 'true',
      HAL_HEARTBEAT_INTERVAL_SEC: '5',
      HAL_NATS__URL: 'nats://10.0.0.1:4222',
      HAL_SECURITY__ORIGIN_ALLOWLIST: 'https://a.example, https://b.example',
      HAL_POLICIES__RESUME_ON_IDLE__ENABLED: 'yes',
      HAL_LOG_LEVEL: 'debug',
      HAL_UNRELATED_THING: 'ignored',
    },
  });
  assert.equal(c.server.port, 9000);
  assert.equal(c.server.metrics_public, true);
  assert.equal(c.heartbeat_interval_sec, 5);
  assert.equal(c.nats.url, 'nats://10.0.0.1:4222');
  assert.deepEqual(c.security.origin_allowlist, ['https://a.example', 'https://b.example']);
  assert.equal(c.policies.resume_on_idle.enabled, true);
  assert.equal(c.log_level, 'debug');
});

test('config env - aliases HAL_AUTH_TOKEN and HAL_NATS_URL, the full name wins over the alias', (t) => {
  const { dir } = tempDir(t);
  const c = loadConfig('supervisor', {
    cwd: dir,
    env: { HAL_AUTH_TOKEN: TOKEN, HAL_NATS_URL: 'nats://alias:4222', HAL_NATS__URL: 'nats://full:4222' },
  });
  assert.equal(c.server.auth_token, TOKEN);
  assert.equal(c.nats.url, 'nats://full:4222');
  const agent = loadConfig('agent', {
    cwd: dir,
    env: { HAL_AUTH_TOKEN: TOKEN, HAL_PROJECTS: '[{"name":"p","directory":"/p"}]', HAL_NODE_ID: 'n1' },
  });
  assert.equal(agent.auth_token, TOKEN);
  assert.equal(agent.node_id, 'n1');
  assert.deepEqual(agent.projects, [{ name: 'p', directory: '/p' }]);
});

test('config env - a value that does not fit the type names the variable and the key', (t) => {
  const { dir } = tempDir(t);
  const err = captureConfigError(() =>
    loadConfig('supervisor', { cwd: dir, env: { HAL_AUTH_TOKEN: TOKEN, HAL_SERVER__PORT: 'eighty' } }),
  );
  assert.deepEqual(
    err.problems.map((p) => p.path),
    ['server.port'],
  );
  assert.match(err.problems[0]?.message ?? '', /^HAL_SERVER__PORT="eighty" is not a number/);
});

test('config secrets - <key>_file reads the secret, trimming one trailing newline', (t) => {
  const { dir, write } = tempDir(t);
  write('token.txt', `${TOKEN}\n`);
  write('admin.txt', 'sk-admin-123\n');
  write('bot.txt', 'bot-secret');
  const file = write(
    's.json',
    JSON.stringify({
      server: { auth_token_file: 'token.txt' },
      cost: { providers: { anthropic: { admin_api_key_file: `${dir}/admin.txt` } } },
      channels: {
        discord: {
          bot_token_file: 'bot.txt',
          guild_id: '100000000000000001',
          channels: { alerts: '100000000000000002' },
        },
      },
    }),
  );
  const c = loadConfig('supervisor', { file, env: {}, cwd: dir });
  assert.equal(c.server.auth_token, TOKEN);
  assert.equal(c.cost.providers.anthropic?.admin_api_key, 'sk-admin-123');
  assert.equal(c.channels.discord?.bot_token, 'bot-secret');
  assert.equal('auth_token_file' in c.server, false);
  // from the environment too
  const fromEnv = loadConfig('supervisor', { env: { HAL_SERVER__AUTH_TOKEN_FILE: 'token.txt' }, cwd: dir });
  assert.equal(fromEnv.server.auth_token, TOKEN);
});

test('config secrets - an agent reads its node token from auth_token_file (file or HAL_AUTH_TOKEN_FILE)', (t) => {
  const { dir, write } = tempDir(t);
  write('node.token', `${TOKEN}\n`);
  const project = { name: 'p', directory: '/p' };
  const file = write('a.json', JSON.stringify({ auth_token_file: 'node.token', projects: [project] }));
  const c = loadConfig('agent', { file, env: {}, cwd: dir });
  assert.equal(c.auth_token, TOKEN);
  assert.equal('auth_token_file' in c, false);
  const plain = write('b.json', JSON.stringify({ projects: [project] }));
  const fromEnv = loadConfig('agent', { file: plain, env: { HAL_AUTH_TOKEN_FILE: 'node.token' }, cwd: dir });
  assert.equal(fromEnv.auth_token, TOKEN);
});

test('config secrets - a missing secret file is a problem at its key path', (t) => {
  const { dir, write } = tempDir(t);
  const file = write('s.json', JSON.stringify({ server: { auth_token_file: 'nope.txt' } }));
  const err = captureConfigError(() => loadConfig('supervisor', { file, env: {}, cwd: dir }));
  const p = err.problems.find((x) => x.path === 'server.auth_token_file');
  assert.ok(p, JSON.stringify(err.problems));
  assert.match(
    p.message,
    /^cannot read secret file ".*nope\.txt" \(ENOENT\): server\.auth_token stays unset$/,
  );
});

function captureConfigError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    assert.equal(err.code, 'CONFIG_INVALID');
    return err;
  }
  assert.fail('expected a ConfigError');
}

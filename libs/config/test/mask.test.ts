import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MASK, maskSecrets, parseConfig, runValidate } from '@hal/config';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

const full = {
  nats: { url: 'nats://user:natspass@10.0.0.1:4222', token: 'nats-token-value' },
  server: { auth_token: TOKEN },
  channels: {
    discord: {
      bot_token: 'bot-token-value',
      guild_id: '100000000000000001',
      channels: { alerts: '100000000000000002' },
    },
  },
  cost: { providers: { openai: { admin_api_key: 'sk-admin-value' } } },
  webhooks: {
    pager: { url: 'https://pager.example/hook', headers: { authorization: 'Bearer xyz' } },
    slack: { url: 'https://hooks.slack.com/services/T0001/B0002/s3cr3tT0k3n' },
  },
  security: {
    tls: { enabled: true, cert_path: '/etc/hal/cert.pem', key_path: '/etc/hal/key.pem' },
    node_tokens: { 'node-a': 'n'.repeat(20) },
    api_tokens: [{ name: 'ops', token: 'o'.repeat(20), role: 'operator' }],
  },
};

test('config mask - every secret is replaced by *** and nothing else is', () => {
  const config = parseConfig('supervisor', full, { cwd: '/' });
  const masked = maskSecrets(config);
  assert.equal(masked.server.auth_token, MASK);
  assert.equal(masked.nats.token, MASK);
  assert.equal(masked.nats.url, 'nats://user:***@10.0.0.1:4222');
  assert.equal(masked.channels.discord?.bot_token, MASK);
  assert.equal(masked.channels.discord?.guild_id, '100000000000000001');
  assert.equal(masked.cost.providers.openai?.admin_api_key, MASK);
  assert.deepEqual(masked.webhooks.pager?.headers, { authorization: MASK });
  // Hooks carry their secret in the path: only the origin is shown.
  assert.equal(masked.webhooks.pager?.url, 'https://pager.example/***');
  assert.equal(masked.webhooks.slack?.url, 'https://hooks.slack.com/***');
  assert.ok(!JSON.stringify(masked).includes('s3cr3tT0k3n'));
  assert.deepEqual(masked.security.node_tokens, { 'node-a': MASK });
  assert.deepEqual(masked.security.api_tokens, [{ name: 'ops', token: MASK, role: 'operator' }]);
  assert.equal(masked.security.tls.key_path, '/etc/hal/key.pem');
  assert.equal(config.server.auth_token, TOKEN, 'the original is untouched');
  const text = JSON.stringify(masked);
  for (const secret of [
    TOKEN,
    'natspass',
    'bot-token-value',
    'sk-admin-value',
    'Bearer xyz',
    'n'.repeat(20),
  ]) {
    assert.equal(text.includes(secret), false, secret);
  }
});

test('config mask - a valid file validates with exit 0 and prints the effective config masked', (t) => {
  const { dir, write } = tempDir(t);
  write('key.pem', 'x');
  const file = write('s.json', JSON.stringify(full));
  const out = memorySink();
  const err = memorySink();
  assert.equal(runValidate('supervisor', file, out, err, { env: {}, cwd: dir }), 0);
  // One note on stderr, saying plainly what the shared token allows; stdout stays pure JSON.
  assert.equal(
    err.text(),
    'note: server.auth_token is an admin API token (every API action) AND an agent credential that connects as any node without a token of its own (security.require_node_tokens is false); enroll nodes (halctl nodes enroll <node>) and set security.require_node_tokens to true to give every agent its own credential\n',
  );
  const strictErr = memorySink();
  const strict = write(
    'strict.json',
    JSON.stringify({ ...full, security: { ...full.security, require_node_tokens: true } }),
  );
  assert.equal(runValidate('supervisor', strict, memorySink(), strictErr, { env: {}, cwd: dir }), 0);
  assert.match(
    strictErr.text(),
    /^note: server\.auth_token is an admin API token \(every API action\); agents cannot connect with it/,
  );
  const printed = JSON.parse(out.text());
  assert.equal(printed.server.auth_token, MASK);
  assert.equal(printed.server.port, 8420);
  assert.equal(printed.data_dir, `${dir}/.hal/data`);
  assert.equal(out.text().includes(TOKEN), false);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig, MASK, maskSecrets, runValidate } from '@hal/config';
import { memorySink, TOKEN, tempDir } from './fixtures.ts';

const server = { auth_token: TOKEN };

function problems(raw: unknown): string[] {
  try {
    loadConfig('supervisor', { env: {}, cwd: '/', ...inline(raw) });
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    // Every message ends with what it means for the process; the part before is what is wrong.
    return err.problems.map(
      (p) => `${p.path}: ${p.message.replace(/; the supervisor will not start.*$/, '')}`,
    );
  }
}

/** loadConfig reads a file: write `raw` to one. */
let write: ((name: string, content: string) => string) | undefined;
function inline(raw: unknown): { file: string } {
  if (write === undefined) throw new Error('tempDir first');
  return { file: write('supervisor.config.json', JSON.stringify(raw)) };
}

test('config nats - user/password, token, creds and nkey_seed for nats.url; secrets from *_file; masked by --validate', (t) => {
  const dir = tempDir(t);
  write = dir.write;
  const passwordFile = dir.write('nats-password', 'pa55word-from-file\n');
  const seedFile = dir.write('hal.nk', 'SUAEXAMPLESEED\n');
  const credsFile = dir.write('hal.creds', '-----BEGIN NATS USER JWT-----\nxyz\n');

  const withPassword = loadConfig('supervisor', {
    env: {},
    cwd: dir.dir,
    file: dir.write(
      'a.json',
      JSON.stringify({
        server,
        nats: { url: 'nats://n:4222', user: 'tracker', password_file: passwordFile },
      }),
    ),
  });
  assert.equal(withPassword.nats.user, 'tracker');
  assert.equal(withPassword.nats.password, 'pa55word-from-file');
  const fromEnv = loadConfig('supervisor', {
    cwd: dir.dir,
    env: {
      HAL_AUTH_TOKEN: TOKEN,
      HAL_NATS__URL: 'nats://n:4222',
      HAL_NATS__USER: 'policy',
      HAL_NATS__PASSWORD: 'pw-env',
    },
  });
  assert.deepEqual([fromEnv.nats.user, fromEnv.nats.password], ['policy', 'pw-env']);
  const withSeed = loadConfig('supervisor', {
    env: {},
    cwd: dir.dir,
    file: dir.write(
      'b.json',
      JSON.stringify({ server, nats: { url: 'nats://n:4222', nkey_seed_file: seedFile } }),
    ),
  });
  assert.equal(withSeed.nats.nkey_seed, 'SUAEXAMPLESEED');
  const withCreds = loadConfig('supervisor', {
    env: {},
    cwd: dir.dir,
    file: dir.write(
      'c.json',
      JSON.stringify({ server, nats: { url: 'nats://n:4222', creds_file: credsFile } }),
    ),
  });
  assert.match(withCreds.nats.creds ?? '', /BEGIN NATS USER JWT/);

  const masked = maskSecrets({ ...withPassword, nats: { ...withPassword.nats, creds: 'c', nkey_seed: 's' } });
  assert.deepEqual(
    [masked.nats.password, masked.nats.creds, masked.nats.nkey_seed, masked.nats.user],
    [MASK, MASK, MASK, 'tracker'],
  );
  const out = memorySink();
  const err = memorySink();
  const file = dir.write(
    'd.json',
    JSON.stringify({ server, nats: { url: 'nats://n:4222', user: 'gw', password: 'do-not-print-me' } }),
  );
  assert.equal(runValidate('supervisor', file, out, err, { env: {} }), 0, err.text());
  assert.equal(out.text().includes('do-not-print-me'), false);
  assert.match(out.text(), /"password": "\*\*\*"/);
});

test('config nats - half a user/password, two ways at once, or credentials without nats.url are named with their keys', (t) => {
  write = tempDir(t).write;
  assert.deepEqual(problems({ server, nats: { url: 'nats://n:4222', user: 'gw' } }), [
    'nats.password: is required with nats.user',
  ]);
  assert.deepEqual(problems({ server, nats: { url: 'nats://n:4222', password: 'p' } }), [
    'nats.user: is required with nats.password',
  ]);
  assert.deepEqual(
    problems({ server, nats: { url: 'nats://n:4222', token: 't', user: 'gw', password: 'p' } }),
    ['nats: choose one way to authenticate to NATS, not token and user/password'],
  );
  assert.deepEqual(problems({ server, nats: { user: 'gw', password: 'p' } }), [
    'nats.user: applies only with nats.url: the embedded nats-server makes its own users',
    'nats.password: applies only with nats.url: the embedded nats-server makes its own users',
  ]);
  // Earlier releases set a token on the embedded server: still valid, warned about at start.
  assert.deepEqual(problems({ server, nats: { token: 'legacy' } }), []);
});

import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { normalizeUrl, resolveConnection } from '../src/client.ts';
import { CliError } from '../src/exit-codes.ts';

test('halctl url - ws URLs map to the HTTP API on 8421, http URLs stay', () => {
  const table: Array<[string, string]> = [
    ['ws://localhost:8420', 'http://localhost:8421'],
    ['ws://localhost', 'http://localhost:8421'],
    ['wss://hal.example.com:8420/ws', 'https://hal.example.com:8421'],
    ['ws://10.0.0.5:9000', 'http://10.0.0.5:9000'],
    ['http://localhost:8421', 'http://localhost:8421'],
    ['https://hal.example.com', 'https://hal.example.com'],
    ['http://localhost:8421/', 'http://localhost:8421'],
  ];
  for (const [input, expected] of table) assert.equal(normalizeUrl(input), expected, input);
});

test('halctl url - a non-URL or another scheme is a usage error', () => {
  assert.throws(
    () => normalizeUrl('localhost:8421'),
    (err: unknown) => {
      assert.ok(err instanceof CliError);
      assert.equal(err.code, 'USAGE');
      return true;
    },
  );
  assert.throws(() => normalizeUrl('ftp://x'), /must be http\(s\):\/\/ or ws\(s\):\/\//);
});

test('halctl url - flags win over HAL_URL/HAL_TOKEN, which win over the config file', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'halctl-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  await writeFile(
    join(dir, 'config.json'),
    JSON.stringify({ url: 'ws://file-host:8420', token: 'file-token' }),
  );
  const configPath = join(dir, 'config.json');

  assert.deepEqual(await resolveConnection({ configPath, env: {} }), {
    baseUrl: 'http://file-host:8421',
    token: 'file-token',
  });
  assert.deepEqual(
    await resolveConnection({ configPath, env: { HAL_URL: 'http://env-host:8421', HAL_TOKEN: 'env-token' } }),
    { baseUrl: 'http://env-host:8421', token: 'env-token' },
  );
  assert.deepEqual(
    await resolveConnection({
      configPath,
      url: 'ws://flag-host:8420',
      token: 'flag-token',
      env: { HAL_URL: 'http://env-host:8421', HAL_TOKEN: 'env-token' },
    }),
    { baseUrl: 'http://flag-host:8421', token: 'flag-token' },
  );
  // The default file lives under $HOME/.config/halctl; a missing one is fine.
  assert.deepEqual(await resolveConnection({ env: { HOME: dir } }), { baseUrl: 'http://127.0.0.1:8421' });
  await writeFile(join(dir, 'bad.json'), '{"url": 5}');
  await assert.rejects(resolveConnection({ configPath: join(dir, 'bad.json'), env: {} }), (err: unknown) => {
    assert.ok(err instanceof CliError);
    assert.equal(err.code, 'CONFIG_INVALID');
    assert.match(err.message, /bad\.json: url: /);
    return true;
  });
});

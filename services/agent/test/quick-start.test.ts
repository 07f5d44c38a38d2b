import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '@hal/config';
import { quickStartConfig } from '../src/quick-start.ts';

const base = { 'token-file': '/etc/hal/node.token', project: ['api=/srv/api'] };

test('agent quick start - --supervisor with one URL stays one URL; comma-separated URLs become the list tried in turn', () => {
  const one = quickStartConfig({ ...base, supervisor: 'wss://gw-1.example:8420' });
  assert.equal((one as { supervisor_url: unknown }).supervisor_url, 'wss://gw-1.example:8420');
  const two = quickStartConfig({ ...base, supervisor: 'wss://gw-1.example:8420, wss://gw-2.example:8420' });
  assert.deepEqual((two as { supervisor_url: unknown }).supervisor_url, [
    'wss://gw-1.example:8420',
    'wss://gw-2.example:8420',
  ]);
  // The list passes the agent config schema like a config file's list would.
  const { auth_token_file: _, ...raw } = two as Record<string, unknown>;
  const config = parseConfig('agent', { ...raw, auth_token: 'node-token-0123456789abcdef' });
  assert.deepEqual(config.supervisor_url, ['wss://gw-1.example:8420', 'wss://gw-2.example:8420']);
});

test('agent quick start - a bad URL in the list is refused by the config schema, naming the entry', () => {
  const raw = quickStartConfig({ ...base, supervisor: 'wss://gw-1.example,http://gw-2.example' }) as Record<
    string,
    unknown
  >;
  const { auth_token_file: _, ...rest } = raw;
  assert.throws(
    () => parseConfig('agent', { ...rest, auth_token: 'node-token-0123456789abcdef' }),
    (err: { problems?: Array<{ path: string; message: string }> }) =>
      err.problems?.some((p) => p.path === 'supervisor_url[1]' && /ws:\/\/ or wss:\/\//.test(p.message)) ===
      true,
  );
});

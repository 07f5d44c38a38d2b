import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';

function capture(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      chunks.push(String(chunk));
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

test('logger - lines carry service, node and child session fields', () => {
  const out = capture();
  const log = createLogger({ service: 'gateway', node: 'n1', destination: out.stream });
  log.child({ session: 's-1' }).info({ project: 'p' }, 'session started');
  const [line] = out.lines();
  assert.equal(line?.service, 'gateway');
  assert.equal(line?.node, 'n1');
  assert.equal(line?.session, 's-1');
  assert.equal(line?.msg, 'session started');
  assert.equal(line?.level, 30);
});

test('logger - node field is absent when not given', () => {
  const out = capture();
  createLogger({ service: 'tracker', destination: out.stream }).info('up');
  const [line] = out.lines();
  assert.equal(line?.service, 'tracker');
  assert.equal('node' in (line ?? {}), false);
});

test('logger - tokens, keys and authorization headers are censored', () => {
  const out = capture();
  const log = createLogger({ service: 'gateway', destination: out.stream });
  log.info(
    {
      auth_token: 'tok-top',
      headers: { authorization: 'Bearer tok-header', accept: 'json' },
      config: { admin_api_key: 'sk-admin', bot_token: 'bot-1', password: 'pw', name: 'kept' },
      req: { headers: { authorization: 'Bearer tok-req' } },
    },
    'request received',
  );
  const raw = JSON.stringify(out.lines());
  for (const secret of ['tok-top', 'tok-header', 'sk-admin', 'bot-1', 'tok-req', '"pw"']) {
    assert.equal(raw.includes(secret), false, `${secret} leaked into the log`);
  }
  const [line] = out.lines() as Array<{
    auth_token: string;
    headers: { authorization: string; accept: string };
    config: { admin_api_key: string; name: string };
  }>;
  assert.equal(line?.auth_token, '***');
  assert.equal(line?.headers.authorization, '***');
  assert.equal(line?.headers.accept, 'json');
  assert.equal(line?.config.admin_api_key, '***');
  assert.equal(line?.config.name, 'kept');
});

test('logger - level option filters lower levels', () => {
  const out = capture();
  const log = createLogger({ service: 'policy', level: 'warn', destination: out.stream });
  log.info('hidden');
  log.warn('shown');
  assert.deepEqual(
    out.lines().map((l) => l.msg),
    ['shown'],
  );
});

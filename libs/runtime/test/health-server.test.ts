import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import { createHealthServer } from '@hal/runtime';

const TOKEN = 'metrics-token-0123456789';

test('health server - /metrics takes the bearer token with any scheme case and refuses other tokens', async (t) => {
  const server = createHealthServer({
    host: '127.0.0.1',
    port: 0,
    readiness: new Readiness(),
    registry: createRegistry({ defaultMetrics: false }),
    metricsPublic: false,
    authToken: TOKEN,
    log: createLogger({ service: 'runtime-test', level: 'silent' }),
  });
  await server.start();
  t.after(() => server.stop());
  const status = async (authorization?: string) => {
    const res = await fetch(`http://127.0.0.1:${server.port()}/metrics`, {
      headers: authorization === undefined ? {} : { authorization },
    });
    await res.arrayBuffer();
    return res.status;
  };
  for (const good of [`Bearer ${TOKEN}`, `bearer ${TOKEN}`, `BEARER  ${TOKEN} `]) {
    assert.equal(await status(good), 200, good);
  }
  for (const bad of [
    undefined,
    `Bearer ${TOKEN.toUpperCase()}`,
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN.slice(1)}`,
    `Basic ${TOKEN}`,
    TOKEN,
  ]) {
    assert.equal(await status(bad), 401, String(bad));
  }
  assert.equal(await status(), 401);
});

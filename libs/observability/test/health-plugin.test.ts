import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHalMetrics, createRegistry, healthPlugin, Readiness } from '@hal/observability';
import Fastify, { type FastifyInstance } from 'fastify';

async function build(
  readiness: Readiness,
  extra: {
    metricsPublic?: boolean;
    authorizeMetrics?: (req: { headers: Record<string, unknown> }) => boolean;
  },
): Promise<FastifyInstance> {
  const registry = createRegistry({ defaultMetrics: false });
  createHalMetrics(registry).nodesOnline.set(2);
  const app = Fastify({ logger: false });
  await app.register(healthPlugin, { readiness, registry, ...extra });
  await app.ready();
  return app;
}

test('health - /healthz answers 200 ok even when a component is down', async (t) => {
  const readiness = new Readiness();
  readiness.register('nats', () => ({ ok: false, detail: 'disconnected' }));
  const app = await build(readiness, {});
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), { status: 'ok' });
});

test('health - /readyz is 200 when every check passes, degraded counts as ready', async (t) => {
  const readiness = new Readiness();
  readiness.register('nats', () => ({ ok: true }));
  readiness.register('cost.anthropic', async () => ({ ok: true, detail: 'degraded: admin key rejected' }));
  const app = await build(readiness, {});
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(res.statusCode, 200);
  assert.deepEqual(res.json(), {
    status: 'ready',
    checks: [
      { name: 'nats', ok: true },
      { name: 'cost.anthropic', ok: true, detail: 'degraded: admin key rejected' },
    ],
  });
});

test('health - /readyz is 503 naming the failing and throwing components', async (t) => {
  const readiness = new Readiness();
  readiness.register('nats', () => ({ ok: false, detail: 'disconnected' }));
  readiness.register('db.tracker', () => {
    throw new Error('file is not a database');
  });
  readiness.register('streams', () => ({ ok: true }));
  const app = await build(readiness, {});
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/readyz' });
  assert.equal(res.statusCode, 503);
  assert.deepEqual(res.json(), {
    status: 'not_ready',
    checks: [
      { name: 'nats', ok: false, detail: 'disconnected' },
      { name: 'db.tracker', ok: false, detail: 'file is not a database' },
      { name: 'streams', ok: true },
    ],
  });
});

test('health - a hanging check times out and fails readiness', async () => {
  const readiness = new Readiness({ timeoutMs: 50 });
  readiness.register('stuck', () => new Promise(() => {}));
  readiness.register('fine', () => ({ ok: true }));
  const started = Date.now();
  const report = await readiness.evaluate();
  assert.ok(Date.now() - started < 1_000);
  assert.deepEqual(report, {
    ready: false,
    checks: [
      { name: 'stuck', ok: false, detail: 'check timed out after 50 ms' },
      { name: 'fine', ok: true },
    ],
  });
});

test('health - unregistered checks no longer count; no checks means ready', async () => {
  const readiness = new Readiness();
  readiness.register('nats', () => ({ ok: false }));
  readiness.unregister('nats');
  assert.deepEqual(await readiness.evaluate(), { ready: true, checks: [] });
});

test('health - /metrics is 401 without authorization', async (t) => {
  const app = await build(new Readiness(), { authorizeMetrics: () => false });
  t.after(() => app.close());
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 401);
  assert.equal(res.headers['www-authenticate'], 'Bearer');
  assert.equal(res.json().error.code, 'UNAUTHORIZED');
  assert.equal(res.json().error.message, 'metrics require a valid bearer token');
  const none = await build(new Readiness(), {});
  t.after(() => none.close());
  assert.equal((await none.inject({ method: 'GET', url: '/metrics' })).statusCode, 401);
});

test('health - /metrics serves prometheus text when authorized or public', async (t) => {
  const authorized = await build(new Readiness(), {
    authorizeMetrics: (req) => req.headers.authorization === 'Bearer good',
  });
  t.after(() => authorized.close());
  const denied = await authorized.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: 'Bearer bad' },
  });
  assert.equal(denied.statusCode, 401);
  const ok = await authorized.inject({
    method: 'GET',
    url: '/metrics',
    headers: { authorization: 'Bearer good' },
  });
  assert.equal(ok.statusCode, 200);
  assert.match(String(ok.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  assert.match(ok.body, /hal_o_swarm_nodes_online 2/);

  const open = await build(new Readiness(), { metricsPublic: true });
  t.after(() => open.close());
  const res = await open.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200);
  assert.match(res.body, /# TYPE hal_o_swarm_events_total counter/);
});

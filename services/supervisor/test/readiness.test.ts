import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { freePort, waitFor } from '@hal/testkit';
import { createSupervisor } from '../src/supervisor.ts';
import { isAlive, TOKEN, tempDir } from './supervisor-fixtures.ts';

interface ReadyBody {
  status: string;
  checks: { name: string; ok: boolean; detail?: string }[];
}

async function readyz(port: number): Promise<{ status: number; body: ReadyBody }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as ReadyBody };
}

test('supervisor readiness - killing the embedded nats-server turns /readyz 503 naming nats, then 200 after restart', async (t) => {
  const dir = tempDir();
  // The HTTP API serves /readyz on http_port, so the test picks the port itself.
  const port = await freePort();
  const config = parseConfig('supervisor', {
    data_dir: join(dir, 'data'),
    nats: { embedded_port: 0 },
    server: { auth_token: TOKEN, http_port: port, port: 0 },
  });
  const supervisor = createSupervisor({
    config,
    log: createLogger({ service: 'supervisor', level: 'silent' }),
    registry: createRegistry({ defaultMetrics: false }),
  });
  t.after(() => supervisor.stop());
  await supervisor.start();

  const before = await readyz(port);
  assert.equal(before.status, 200);
  const names = before.body.checks.map((c) => c.name);
  for (const name of ['nats', 'streams', 'gateway-ws', 'db.cost', 'db.tracker', 'policy.kv'])
    assert.ok(names.includes(name), `${name} is checked`);
  assert.deepEqual(
    before.body.checks.filter((c) => !c.ok),
    [],
  );
  const health = await fetch(`http://127.0.0.1:${port}/healthz`);
  assert.equal(health.status, 200);

  const firstPid = supervisor.embeddedNats?.pid();
  assert.ok(firstPid !== undefined && isAlive(firstPid));
  process.kill(firstPid, 'SIGKILL');

  const down = await waitFor(
    async () => {
      const r = await readyz(port);
      return r.status === 503 ? r : undefined;
    },
    { timeoutMs: 10_000, message: '/readyz never answered 503 after nats-server was killed' },
  );
  assert.equal(down.body.status, 'not_ready');
  const nats = down.body.checks.find((c) => c.name === 'nats');
  assert.equal(nats?.ok, false);
  // /healthz is liveness: the process still answers while NATS is down.
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);

  await waitFor(async () => (await readyz(port)).status === 200, {
    timeoutMs: 15_000,
    message: '/readyz never recovered after the embedded nats-server restart',
  });
  const secondPid = supervisor.embeddedNats?.pid();
  assert.ok(secondPid !== undefined && secondPid !== firstPid && isAlive(secondPid));

  await supervisor.stop();
  assert.equal(isAlive(secondPid), false, 'stop() leaves no nats-server behind');
});

test('supervisor metrics - /metrics needs the bearer token unless public', async (t) => {
  const dir = tempDir();
  const port = await freePort();
  const config = parseConfig('supervisor', {
    data_dir: join(dir, 'data'),
    nats: { embedded_port: 0 },
    server: { auth_token: TOKEN, http_port: port, port: 0 },
  });
  const supervisor = createSupervisor({
    config,
    log: createLogger({ service: 'supervisor', level: 'silent' }),
    registry: createRegistry({ defaultMetrics: false }),
  });
  t.after(() => supervisor.stop());
  await supervisor.start();
  const url = `http://127.0.0.1:${port}/metrics`;
  const denied = await fetch(url);
  assert.equal(denied.status, 401);
  assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'UNAUTHORIZED');
  const wrong = await fetch(url, { headers: { authorization: `Bearer ${'x'.repeat(40)}` } });
  assert.equal(wrong.status, 401);
  const ok = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  assert.equal(ok.status, 200);
  assert.match(await ok.text(), /hal_o_swarm_nats_reconnects_total/);
});

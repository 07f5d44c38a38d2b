import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, waitFor } from '@hal/testkit';
import { isAlive, spawnSupervisor, TOKEN, tempDir, writeJson } from './supervisor-fixtures.ts';

test('supervisor shutdown - SIGTERM exits within 10 s and leaves no nats-server behind', async (t) => {
  const dir = tempDir();
  const httpPort = await freePort();
  const file = writeJson(dir, 'supervisor.config.json', {
    data_dir: join(dir, 'data'),
    nats: { embedded_port: 0 },
    server: { auth_token: TOKEN, http_port: httpPort, port: 0 },
  });
  const sup = await spawnSupervisor(['--config', file], dir);
  let natsPid: number | undefined;
  t.after(() => {
    sup.child.kill('SIGKILL');
    if (natsPid !== undefined && isAlive(natsPid)) process.kill(natsPid, 'SIGKILL');
  });

  natsPid = await waitFor(
    () => {
      for (const line of sup.stdout().split('\n')) {
        if (line.includes('"embedded nats-server started"')) return (JSON.parse(line) as { pid: number }).pid;
      }
      return undefined;
    },
    { timeoutMs: 20_000, message: 'the supervisor never logged its nats-server pid' },
  );
  await waitFor(async () => (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status === 200, {
    timeoutMs: 10_000,
    message: '/readyz never answered 200',
  });
  assert.ok(isAlive(natsPid));

  const sentAt = Date.now();
  sup.child.kill('SIGTERM');
  const { code, signal } = await sup.done;
  assert.ok(Date.now() - sentAt < 10_000, 'exited within 10 s');
  assert.equal(signal, null);
  assert.equal(code, 0);
  assert.equal(isAlive(natsPid), false, 'no nats-server left behind');
  assert.match(sup.stdout(), /"component":"embedded-nats","msg":"part stopped"[\s\S]*"msg":"stopped"/);
});

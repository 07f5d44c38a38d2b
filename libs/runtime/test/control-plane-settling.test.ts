import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { parseConfig } from '@hal/config';
import { createLogger, createRegistry } from '@hal/observability';
import { NatsUser } from '@hal/protocol';
import { createControlPlane, type ServiceEntry } from '@hal/runtime';
import { freePort, startNats, tempDir, waitFor } from '@hal/testkit';
import { JetStreamApiError } from '@nats-io/jetstream';
import { TimeoutError } from '@nats-io/nats-core';

const TOKEN = 'settling-token-0123456789abcdef';

/** A logger whose lines the test reads. */
function capturedLog() {
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, log: createLogger({ service: 'settling-test', level: 'warn', destination: sink }) };
}

/** A service whose start throws `failures` in turn, then starts; it records what happened. */
function flakyService(failures: Error[]) {
  const trail: string[] = [];
  let tries = 0;
  const entry: ServiceEntry = {
    name: 'flaky',
    natsUser: NatsUser.TRACKER,
    create: () => ({
      async start() {
        tries += 1;
        trail.push(`start ${tries}`);
        const failure = failures[tries - 1];
        if (failure !== undefined) throw failure;
      },
      async stop() {
        trail.push(`stop ${tries}`);
      },
    }),
  };
  return { entry, trail };
}

async function plane(t: { after: (fn: () => Promise<void>) => void }, entry: ServiceEntry) {
  const nats = await startNats();
  t.after(() => nats.stop());
  const config = parseConfig(
    'supervisor',
    {
      data_dir: tempDir('hal-settling-'),
      nats: { url: nats.url },
      server: { auth_token: TOKEN, http_port: await freePort() },
    },
    { env: {} },
  );
  const { lines, log } = capturedLog();
  const cp = createControlPlane({
    config,
    log,
    registry: createRegistry(),
    services: [entry],
    connectionName: 'hal-settling-test',
    natsUrl: () => nats.url,
  });
  t.after(() => cp.stop());
  return { cp, lines };
}

const busy = () =>
  new JetStreamApiError({
    code: 503,
    err_code: 10008,
    description: 'JetStream system temporarily unavailable',
  });

test('runtime - a service whose start times out while the cluster is busy is stopped and started again until it runs, each try logged', async (t) => {
  const { entry, trail } = flakyService([new TimeoutError(), busy()]);
  const { cp, lines } = await plane(t, entry);
  await cp.start();
  assert.ok(cp.running().includes('flaky'), `running: ${cp.running().join(', ')}`);
  // Each failed try is stopped before the next begins: no half-started copy is left running.
  assert.deepEqual(trail, ['start 1', 'stop 1', 'start 2', 'stop 2', 'start 3']);
  const retries = lines.filter((l) => l.msg === 'start failed while NATS is busy; trying again');
  assert.deepEqual(
    retries.map((l) => [l.component, l.attempt]),
    [
      ['flaky', 1],
      ['flaky', 2],
    ],
  );
  assert.equal((await cp.readiness.evaluate()).ready, true);
});

test('runtime - a start that fails for good (a refused config, a 400 from JetStream) ends the start at once, not retried', async (t) => {
  const refused = new JetStreamApiError({
    code: 400,
    err_code: 10058,
    description: 'stream name already in use with a different configuration',
  });
  const { entry, trail } = flakyService([refused]);
  const { cp, lines } = await plane(t, entry);
  await assert.rejects(cp.start(), (err) => err === refused);
  assert.deepEqual(trail, ['start 1']);
  assert.equal(lines.filter((l) => l.msg === 'start failed while NATS is busy; trying again').length, 0);
});

test('runtime - stop() while a start waits to try again ends the wait at once and leaves nothing running', async (t) => {
  const { entry, trail } = flakyService(Array.from({ length: 50 }, () => new TimeoutError()));
  const { cp } = await plane(t, entry);
  const starting = cp.start();
  await waitFor(() => trail.includes('stop 3'), { message: 'three tries failed' });
  const began = performance.now();
  await cp.stop();
  await starting;
  // The backoff is up to 5 s by then; stop does not sit it out.
  assert.ok(performance.now() - began < 2_000, `stop took ${Math.round(performance.now() - began)} ms`);
  assert.deepEqual(cp.running(), []);
  assert.equal(
    trail.filter((s) => s.startsWith('start')).length,
    trail.filter((s) => s.startsWith('stop')).length,
  );
});

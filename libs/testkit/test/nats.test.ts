import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort, NATS_NOT_FOUND_MESSAGE, startNats, waitFor } from '@hal/testkit';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { canConnect } from '../src/net.ts';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('nats - starts a JetStream server a real client can use, and stop closes the port and removes the store', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  assert.match(nats.url, /^nats:\/\/127\.0\.0\.1:\d+$/);
  const nc = await connect({ servers: nats.url });
  try {
    const info = await (await jetstreamManager(nc)).getAccountInfo();
    assert.equal(info.streams, 0);
  } finally {
    await nc.close();
  }
  await nats.stop();
  assert.equal(await canConnect(nats.port), false);
  assert.equal(alive(nats.pid), false);
  assert.equal(existsSync(nats.storeDir), false);
});

test('nats - a missing binary fails with the install hint', async () => {
  await assert.rejects(startNats({ binary: '/nonexistent/nats-server' }), {
    message: NATS_NOT_FOUND_MESSAGE,
  });
  const empty = await mkdtemp(join(tmpdir(), 'hal-empty-path-'));
  const oldPath = process.env.PATH;
  process.env.PATH = empty;
  try {
    await assert.rejects(startNats(), { message: NATS_NOT_FOUND_MESSAGE });
  } finally {
    process.env.PATH = oldPath;
    await rm(empty, { recursive: true, force: true });
  }
});

test('nats - restart after a crash keeps the port and the stream data', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  let nc = await connect({ servers: nats.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'KEEP', subjects: ['keep.>'] });
  await jetstream(nc).publish('keep.a', 'hello');
  await nc.close();

  const oldPid = nats.pid;
  nats.kill('SIGKILL');
  await waitFor(() => !alive(oldPid), { timeoutMs: 3000, message: 'killed nats-server still alive' });
  await nats.restart();
  assert.notEqual(nats.pid, oldPid);

  nc = await connect({ servers: nats.url });
  try {
    const info = await (await jetstreamManager(nc)).streams.info('KEEP');
    assert.equal(info.state.messages, 1);
  } finally {
    await nc.close();
  }
});

test('nats - a given store dir is kept on stop, and without JetStream the server still starts', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'hal-nats-given-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const nats = await startNats({ storeDir: dir, port: await freePort() });
  await nats.stop();
  assert.equal(existsSync(dir), true);

  const plain = await startNats({ jetstream: false });
  t.after(() => plain.stop());
  const nc = await connect({ servers: plain.url });
  await nc.flush();
  await nc.close();
});

test('nats - waitFor returns the value or throws with the message', async () => {
  let n = 0;
  assert.equal(await waitFor(() => (++n >= 3 ? n : 0), { intervalMs: 1 }), 3);
  await assert.rejects(
    waitFor(() => false, { timeoutMs: 30, intervalMs: 5, message: 'never true' }),
    {
      message: 'waitFor timed out after 30 ms: never true',
    },
  );
});

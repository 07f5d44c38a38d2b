import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startNatsCluster, waitFor } from '@hal/testkit';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('nats cluster - three nodes with one meta leader; an R3 stream keeps taking publishes with a node killed, and the node catches up on restart', async (t) => {
  const cluster = await startNatsCluster(3);
  t.after(() => cluster.stop());
  assert.deepEqual(
    cluster.nodes.map((n) => n.name),
    ['n1', 'n2', 'n3'],
  );
  assert.equal(cluster.url.split(',').length, 3);
  assert.equal(new Set(cluster.nodes.map((n) => n.storeDir)).size, 3, 'each node has its own store');
  const leader = await cluster.waitForMetaLeader();
  assert.ok(['n1', 'n2', 'n3'].includes(leader));

  const nc = await connect({
    servers: cluster.url.split(','),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc, { timeout: 2_000 });
  await jsm.streams.add({ name: 'CLUSTERED', subjects: ['clustered.>'], num_replicas: 3 });
  for (let i = 0; i < 50; i++) await js.publish('clustered.a', String(i));

  // Kill the stream's leader: the hardest case, a new one must be elected before publishes land.
  const streamLeader = (await jsm.streams.info('CLUSTERED')).cluster?.leader ?? '';
  const victim = cluster.node(streamLeader);
  const pid = victim.pid;
  victim.kill('SIGKILL');
  await waitFor(() => !alive(pid), { timeoutMs: 3_000, message: 'killed node still alive' });
  await cluster.waitForMetaLeader();
  await waitFor(
    async () => {
      await js.publish('clustered.a', '50', { msgID: 'm-50' });
      return true;
    },
    { timeoutMs: 30_000, message: 'the two remaining nodes never took a publish' },
  );
  for (let i = 51; i < 100; i++) await js.publish('clustered.a', String(i), { msgID: `m-${i}` });
  const during = await jsm.streams.info('CLUSTERED');
  assert.equal(during.state.messages, 100);
  assert.notEqual(during.cluster?.leader, streamLeader);

  // Restarted on its own store, the node rejoins and holds all 100 in its own copy.
  await victim.restart();
  assert.notEqual(victim.pid, pid);
  await cluster.waitForMetaLeader();
  await waitFor(async () => (await cluster.streamMessagesOn(victim.name, 'CLUSTERED')) === 100, {
    timeoutMs: 30_000,
    message: `${victim.name} never caught up to 100 messages`,
  });
  const after = await jsm.streams.info('CLUSTERED');
  assert.equal(after.cluster?.replicas?.length, 2);
  assert.ok(after.cluster?.replicas?.every((r) => r.current));
});

test('nats cluster - with two of three nodes killed JetStream refuses publishes, and comes back when they restart', async (t) => {
  const cluster = await startNatsCluster(3);
  t.after(() => cluster.stop());
  const nc = await connect({
    servers: cluster.url.split(','),
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  t.after(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const js = jetstream(nc, { timeout: 1_000 });
  await jsm.streams.add({ name: 'QUORUM', subjects: ['quorum.>'], num_replicas: 3 });
  await js.publish('quorum.a', 'before');

  const [a, b] = cluster.nodes;
  assert.ok(a !== undefined && b !== undefined);
  a.kill('SIGKILL');
  b.kill('SIGKILL');
  // No majority: no leader, and a publish fails instead of being acked by one copy.
  await assert.rejects(
    cluster.waitForMetaLeader({ timeoutMs: 1_500 }),
    /never agreed on a JetStream meta leader/,
  );
  await assert.rejects(js.publish('quorum.a', 'retried', { msgID: 'q-1' }));

  await Promise.all([a.restart(), b.restart()]);
  await cluster.waitForMetaLeader();
  await waitFor(
    async () => {
      // A publish that timed out may still have been proposed and land later: retried with the
      // same message id (as the gateway does) it is stored once either way.
      await js.publish('quorum.a', 'retried', { msgID: 'q-1' });
      return true;
    },
    { timeoutMs: 30_000, message: 'the cluster never took a publish after the restart' },
  );
  assert.equal((await jsm.streams.info('QUORUM')).state.messages, 2);
});

test('nats cluster - n must be a positive integer', async () => {
  await assert.rejects(startNatsCluster(0), {
    message: 'startNatsCluster: n must be a positive integer, not 0',
  });
});

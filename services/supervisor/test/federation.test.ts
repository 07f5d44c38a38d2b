import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { StreamName } from '@hal/protocol';
import { freePort, startNats, startNatsCluster, waitFor } from '@hal/testkit';
import { PROJECT, startClusterStack, startGatewayProcess, startSimAgent } from './cluster-harness.ts';

// Two regions as docs/DEPLOYMENT.md describes them: region A a 3-server JetStream cluster with the
// control plane, region B NATS without JetStream with its own gateway and agents, joined into one
// supercluster by NATS gateways. The nats-server configs written here are the documented ones,
// on loopback ports.
test('federation - a host in region B is seen and commanded from the API of region A; its events are stored in region A', async (t) => {
  const gwA = await Promise.all([freePort(), freePort(), freePort()]);
  const [gwB, routeB] = [await freePort(), await freePort()];
  const dir = mkdtempSync(join(tmpdir(), 'hal-federation-'));
  // Torn down in reverse: agent, gateway, control plane, then NATS (and the config files).
  const cleanups: Array<() => Promise<unknown> | unknown> = [
    () => rmSync(dir, { recursive: true, force: true }),
  ];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  const gatewayUrls = (ports: number[]) => ports.map((p) => `"nats://127.0.0.1:${p}"`).join(', ');
  const confA = gwA.map((port, i) => {
    const file = join(dir, `region-a-${i + 1}.conf`);
    writeFileSync(
      file,
      `gateway {\n  name: region-a\n  listen: "127.0.0.1:${port}"\n  gateways: [ { name: region-b, urls: [${gatewayUrls([gwB])}] } ]\n}\n`,
    );
    return file;
  });
  const confB = join(dir, 'region-b.conf');
  writeFileSync(
    confB,
    `server_name: region-b-1\ncluster { name: region-b, listen: "127.0.0.1:${routeB}" }\ngateway {\n  name: region-b\n  listen: "127.0.0.1:${gwB}"\n  gateways: [ { name: region-a, urls: [${gatewayUrls(gwA)}] } ]\n}\n`,
  );
  const [regionA, regionB] = await Promise.all([
    startNatsCluster(3, { name: 'region-a', nodeArgs: (i) => ['-c', confA[i] ?? ''] }),
    // No JetStream in region B: the meta group stays within region A, so B can never cost it quorum.
    startNats({ jetstream: false, args: ['-c', confB] }),
  ]);
  cleanups.push(() => Promise.all([regionA.stop(), regionB.stop()]));

  const stack = await startClusterStack({ cluster: regionA });
  cleanups.push(() => stack.close());
  // Region B's gateway connects to region B's NATS only.
  const gatewayB = await startGatewayProcess({
    natsUrl: regionB.url,
    replicas: 3,
    dir: stack.dir,
    name: 'gw-b',
  });
  cleanups.push(() => gatewayB.stop());
  const host = await startSimAgent({ node: 'host-b', urls: [gatewayB.wsUrl], dir: stack.dir });
  cleanups.push(() => host.stop());

  host.emit('ses_region_b', 'session.created', { title: 'in region B' });
  for (let i = 0; i < 50; i++)
    host.emit('ses_region_b', i % 2 === 0 ? 'session.busy' : 'session.idle', { i });
  await waitFor(() => host.spool.depth() === 0, {
    timeoutMs: 30_000,
    message: "region B's gateway acked every event",
  });

  // Region A's API: the node and the session of region B, every event.
  const node = await waitFor(
    async () => {
      const r = await stack.api<{ data: { status: string; gateway: string; projects: unknown[] } }>(
        '/api/v1/nodes/host-b',
      );
      return r.status === 200 && r.body.data.status === 'online' ? r.body.data : undefined;
    },
    { timeoutMs: 30_000, message: 'host-b online in the API of region A' },
  );
  assert.deepEqual(node.projects, [PROJECT]);
  await waitFor(
    async () => {
      const r = await stack.api<{ data: unknown[] }>('/api/v1/sessions/ses_region_b/events?limit=1000');
      return r.status === 200 && r.body.data.length === 51;
    },
    { timeoutMs: 30_000, message: 'all 51 events of ses_region_b in the API of region A' },
  );

  // Commands from region A's API reach the host in region B: a new session, and a prompt.
  const started = await stack.api<{ data: unknown; meta: { node: string } }>('/api/v1/sessions', {
    project: PROJECT.name,
    node: 'host-b',
    prompt: 'started from region A',
  });
  assert.equal(started.status, 201, JSON.stringify(started.body));
  assert.equal(started.body.meta.node, 'host-b');
  const injected = await stack.api('/api/v1/sessions/ses_region_b/inject', { prompt: 'hello from region A' });
  assert.equal(injected.status, 200, JSON.stringify(injected.body));
  assert.deepEqual(
    host.commands.map((c) => c.type),
    ['start', 'inject'],
  );

  // The events live in region A's cluster, with three replicas there.
  const info = await (await jetstreamClient(stack.nc).jetstreamManager()).streams.info(StreamName.EVENTS);
  assert.equal(info.cluster?.name, 'region-a');
  assert.equal(info.config.num_replicas, 3);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { StreamName } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { PROJECT, startSimAgent } from './cluster-harness.ts';
import { startFederation } from './federation-harness.ts';

// Two regions as docs/DEPLOYMENT.md describes them (federation-harness.ts): the control plane in
// region A, region B with its own gateway and agents.
test('federation - a host in region B is seen and commanded from the API of region A; its events are stored in region A', async (t) => {
  const fed = await startFederation();
  t.after(() => fed.close());
  const { stack } = fed;
  const host = await startSimAgent({ node: 'host-b', urls: [fed.gatewayB.wsUrl], dir: fed.dir });
  fed.defer(() => host.stop());

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

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { waitFor } from '@hal/testkit';
import {
  type ClusterStack,
  deliveryProblems,
  type GatewayProcess,
  type SimAgent,
  startClusterStack,
  startGatewayProcess,
  startSimAgent,
  storedAgentEvents,
} from './cluster-harness.ts';

const RECONNECT_GOAL_MS = 10_000;

let stack: ClusterStack;
let g2: GatewayProcess;

before(async () => {
  stack = await startClusterStack();
  // The second gateway's config still says one replica (an older config): it must lower nothing.
  g2 = await startGatewayProcess({ natsUrl: stack.cluster.url, replicas: 1, dir: stack.dir, name: 'gw-2' });
});

after(async () => {
  await g2?.stop();
  await stack?.close();
});

test('cluster - every service on a 3-node cluster with nats.replicas 3 makes each stream and KV bucket R3; a gateway configured with 1 lowers none', async () => {
  const jsm = await jetstreamClient(stack.nc).jetstreamManager();
  const replicas = new Map<string, number>();
  for await (const info of jsm.streams.list()) replicas.set(info.config.name, info.config.num_replicas);
  for (const name of ['HAL_EVENTS', 'HAL_NOTIFY', 'HAL_AUDIT']) assert.equal(replicas.get(name), 3, name);
  const buckets = [...replicas.keys()].filter((n) => n.startsWith('KV_'));
  assert.ok(buckets.length >= 3, `the services opened their KV buckets: ${[...replicas.keys()].join(', ')}`);
  assert.deepEqual(
    [...replicas].filter(([, r]) => r !== 3),
    [],
    'every stream and bucket has 3 replicas after gw-2 (nats.replicas 1) started',
  );
  // Each replica is placed on a different node.
  const events = await jsm.streams.info('HAL_EVENTS');
  assert.equal(
    new Set([events.cluster?.leader, ...(events.cluster?.replicas ?? []).map((r) => r.name)]).size,
    3,
  );
});

test('cluster - agents listing two gateways move to the other when theirs is SIGKILLed: events stored once in order, commands reach them again within the window', async (t) => {
  const agents: SimAgent[] = [];
  t.after(() => Promise.all(agents.map((a) => a.stop())));
  for (const node of ['host-a', 'host-b', 'host-c']) {
    agents.push(await startSimAgent({ node, urls: [g2.wsUrl, stack.wsUrl], dir: stack.dir }));
  }
  assert.ok(
    agents.every((a) => a.welcomes[0]?.url === g2.wsUrl),
    'all start on gw-2, the first URL',
  );
  const session = (a: SimAgent) => `ses_${a.node}`;
  let n = 0;
  const burst = (count: number) => {
    for (const a of agents) {
      for (let i = 0; i < count; i++) {
        n += 1;
        a.emit(session(a), n % 2 === 0 ? 'session.busy' : 'session.idle', { n });
      }
    }
  };
  for (const a of agents) a.emit(session(a), 'session.created', { title: a.node });
  burst(20);
  await waitFor(() => agents.every((a) => a.spool.depth() === 0), { message: 'gw-2 acked the first events' });
  const inject = (a: SimAgent) =>
    stack.api<{ data: { node: string } }>(`/api/v1/sessions/${session(a)}/inject`, {
      prompt: 'go on',
      timeout_ms: 3_000,
    });
  const target = agents[0];
  assert.ok(target !== undefined);
  await waitFor(async () => (await inject(target)).status === 200, {
    message: 'a command reaches host-a through gw-2',
  });

  // Events in flight when the gateway dies: some are stored and not acked, some never reached it.
  burst(100);
  const killedAt = Date.now();
  g2.kill();
  await g2.exited;

  const moved = await waitFor(
    () => {
      const times = agents.map((a) => a.welcomes.find((w) => w.url === stack.wsUrl && w.at >= killedAt)?.at);
      return times.every((at) => at !== undefined) ? times.map((at) => (at ?? 0) - killedAt) : undefined;
    },
    { timeoutMs: 30_000, message: 'every agent reconnected to gw-1' },
  );
  await waitFor(async () => (await inject(target)).status === 200, {
    timeoutMs: 30_000,
    intervalMs: 100,
    message: 'a command reaches host-a again through gw-1',
  });
  const commandMs = Date.now() - killedAt;
  burst(20);
  await waitFor(() => agents.every((a) => a.spool.depth() === 0), { message: 'gw-1 acked every event' });

  const agentMs = Math.max(...moved);
  t.diagnostic(
    `gateway failover: agents back on the other gateway after ${moved.join(' / ')} ms (max ${agentMs} ms)`,
  );
  t.diagnostic(`gateway failover: first API command answered again ${commandMs} ms after the SIGKILL`);
  assert.ok(
    agentMs <= RECONNECT_GOAL_MS,
    `agents reconnected in ${agentMs} ms (goal ≤ ${RECONNECT_GOAL_MS})`,
  );
  assert.ok(
    commandMs <= RECONNECT_GOAL_MS,
    `commands answered again in ${commandMs} ms (goal ≤ ${RECONNECT_GOAL_MS})`,
  );

  const stored = await storedAgentEvents(stack.nc);
  assert.deepEqual(deliveryProblems(agents, stored), []);
  assert.equal(
    stored.length,
    agents.reduce((sum, a) => sum + a.sent.length, 0),
  );
  // The tracker's projection has every event of each session.
  for (const a of agents) {
    await waitFor(
      async () => {
        const r = await stack.api<{ data: Array<{ id: string }> }>(
          `/api/v1/sessions/${session(a)}/events?limit=1000`,
        );
        return r.status === 200 && r.body.data.length === a.sent.length;
      },
      { message: `the tracker projected all ${a.sent.length} events of ${session(a)}` },
    );
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus } from '@hal/bus';
import { type EventRecord, StreamName } from '@hal/protocol';
import { startFakeDiscord, startNatsCluster, tempDir, waitFor } from '@hal/testkit';
import { longestOutage, startProber } from './api-prober.ts';
import {
  deliveryProblems,
  type GatewayProcess,
  log,
  type SimAgent,
  startGatewayProcess,
  startSimAgent,
  streamRecords,
  TOKEN,
} from './cluster-harness.ts';
import { type ServiceProcess, type SplitService, startServiceProcess } from './service-process.ts';
import {
  actedOnceProblems,
  answered,
  consumersLag,
  openSessions,
  sharedConfig,
  startInstance,
} from './services-chaos-harness.ts';

// Issue 13's acceptance "a rolling restart of every service, one instance at a time, under load:
// nothing lost, nothing doubled, no API request fails for longer than the reconnect window". A
// 3-node NATS cluster, two of every service as processes of their own (gateway with its API,
// tracker, policy, cost-poller, Discord bridge), simulated hosts listing both gateways streaming
// events throughout; each instance in turn gets SIGTERM and is started again on the same config
// and data (ready before the next goes), then each NATS node. A client that knows both APIs
// sends commands all along.
const AGENTS = 4;
const SESSIONS_PER_AGENT = 2;
const TICK_MS = 200;
const RECONNECT_GOAL_MS = 10_000;

test('rolling restart - every service instance and every NATS node restarted one at a time under load: every event stored once in session order, both trackers complete, no policy action, budget alert or notification twice, API commands fail for less than the reconnect window', {
  timeout: 900_000,
}, async (t) => {
  const began = Date.now();
  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  });
  const dir = tempDir('hal-rolling-');
  const cluster = await startNatsCluster(3);
  cleanups.push(() => cluster.stop());
  const discord = await startFakeDiscord({ guild: { channels: [{ name: 'alerts' }] } });
  cleanups.push(() => discord.stop());
  const shared = sharedConfig(discord);

  /** Every running instance by name, and how to start it again as the same instance. */
  const running = new Map<string, ServiceProcess & { config: Record<string, unknown> }>();
  const serviceOf = new Map<string, SplitService>();
  cleanups.push(() => Promise.all([...running.values()].map((p) => p.stop())));
  const track = <P extends ServiceProcess & { config: Record<string, unknown> }>(
    service: SplitService,
    p: P,
  ) => {
    running.set(p.name, p);
    serviceOf.set(p.name, service);
    return p;
  };
  // The gateways first (side by side): they create the streams the others read.
  const gateways: GatewayProcess[] = await Promise.all(
    ['gw-1', 'gw-2'].map(async (name) =>
      track('gateway', await startGatewayProcess({ natsUrl: cluster.url, replicas: 3, dir, name })),
    ),
  );
  const others: Array<[SplitService, string]> = [
    ['tracker', 'tracker-1'],
    ['tracker', 'tracker-2'],
    ['policy', 'policy-1'],
    ['policy', 'policy-2'],
    ['cost-poller', 'cost-1'],
    ['cost-poller', 'cost-2'],
    ['discord-bridge', 'bridge-1'],
    ['discord-bridge', 'bridge-2'],
  ];
  // All at once: each starts compiled (testkit compiledEntry), no tsx transform to queue behind.
  // Each instance is tracked as soon as it runs, so a sibling that fails to start leaves no orphan.
  await Promise.all(
    others.map(async ([service, instanceId]) =>
      track(service, await startInstance({ service, instanceId, dir, natsUrl: cluster.url, shared })),
    ),
  );
  const restart = async (name: string) => {
    const p = running.get(name);
    const service = serviceOf.get(name);
    assert.ok(p !== undefined && service !== undefined);
    await p.stop();
    running.delete(name);
    track(service, await startServiceProcess({ service, name, dir, config: p.config }));
  };
  const nc = await connectBus({ url: cluster.url, name: 'rolling-test', log });
  cleanups.push(() => nc.close());

  const agents: SimAgent[] = [];
  cleanups.push(() => Promise.all(agents.map((a) => a.stop())));
  const urls = gateways.map((g) => g.wsUrl);
  await Promise.all(
    Array.from({ length: AGENTS }, async (_, i) =>
      agents.push(
        await startSimAgent({ node: `host-${i}`, urls: i % 2 === 0 ? urls : [...urls].reverse(), dir }),
      ),
    ),
  );
  agents.sort((a, b) => a.node.localeCompare(b.node));
  const startedMs = Date.now() - began;
  const sessions = openSessions(agents, SESSIONS_PER_AGENT);
  // Load all along: every session gets an event each tick.
  let emitted = 0;
  const load = setInterval(() => {
    for (const a of agents) {
      const batch = sessions
        .filter((s) => s.agent === a)
        .map((s) => {
          emitted += 1;
          return { session: s.id, type: 'opencode.file.edited', data: { file: `src/f${emitted}.ts` } };
        });
      a.emitMany(batch);
    }
  }, TICK_MS);
  cleanups.push(async () => clearInterval(load));
  /** Half the sessions go idle (resumed once by whichever policy leads) and cross their budget. */
  const idle = (half: number) => {
    for (const s of sessions.filter((_, i) => i % 2 === half)) {
      s.agent.emit(s.id, 'session.idle', {});
      answered(s, 2);
    }
  };

  // A client that knows both APIs and tries them in turn: a probe fails only when neither answers.
  const probeSession = sessions[0]?.id ?? '';
  await waitFor(
    async () =>
      (await apiPost(gateways[0]?.apiUrl ?? '', `/api/v1/sessions/${probeSession}/inject`, {
        prompt: 'probe',
        timeout_ms: 2_000,
      })) === 200,
    {
      timeoutMs: 30_000,
      message: 'the API answers commands',
    },
  );
  let turn = 0;
  const prober = startProber(async () => {
    turn += 1;
    for (const g of turn % 2 === 0 ? gateways : [...gateways].reverse()) {
      const status = await apiPost(g.apiUrl, `/api/v1/sessions/${probeSession}/inject`, {
        prompt: 'probe',
        timeout_ms: 2_000,
      }).catch(() => 0);
      if (status === 200) return true;
    }
    return false;
  });
  cleanups.push(() => prober.stop());
  const rollingFrom = Date.now();

  // One instance at a time, each ready again before the next goes; half the sessions go idle
  // between the two policies' restarts, the rest between the two cost-pollers'.
  const restartMs: string[] = [];
  const timed = async (name: string, step: () => Promise<unknown>) => {
    const t0 = Date.now();
    await step();
    restartMs.push(`${name} ${Date.now() - t0} ms`);
  };
  for (const name of ['gw-1', 'gw-2', 'tracker-1', 'tracker-2', 'policy-1'])
    await timed(name, () => restart(name));
  idle(0);
  for (const name of ['policy-2', 'cost-1']) await timed(name, () => restart(name));
  idle(1);
  for (const name of ['cost-2', 'bridge-1', 'bridge-2']) await timed(name, () => restart(name));
  for (const node of cluster.nodes)
    await timed(node.name, async () => {
      await node.restart();
      await cluster.waitForMetaLeader({ timeoutMs: 60_000 });
    });
  clearInterval(load);
  const rollingTo = Date.now();

  await waitFor(() => agents.every((a) => a.spool.depth() === 0), {
    timeoutMs: 60_000,
    message: 'every spool drained (all events acked)',
  });
  await waitFor(() => prober.okSince(Date.now() - 1_000), {
    timeoutMs: 30_000,
    message: 'API commands answered after the rolling restart',
  });
  await prober.stop();
  await waitFor(async () => (await consumersLag(nc, StreamName.EVENTS)) === 0, {
    timeoutMs: 90_000,
    message: 'every consumer of HAL_EVENTS caught up',
  });

  // Every event stored exactly once, each session's in the order its agent numbered them.
  const records = (await streamRecords<EventRecord>(nc, StreamName.EVENTS)).map((m) => m.record);
  const sentIds = new Set(agents.flatMap((a) => a.sent.map((e) => e.id)));
  const stored = records.filter((e) => sentIds.has(e.id));
  assert.deepEqual(deliveryProblems(agents, stored), []);
  assert.equal(stored.length, sentIds.size);

  // No policy action, budget alert or notification twice, across both instances' restarts.
  const once = await actedOnceProblems(nc, sessions, discord);
  assert.deepEqual(once.problems, []);
  const after = (await streamRecords<EventRecord>(nc, StreamName.EVENTS)).map((m) => m.record);

  // Both trackers complete: each answers every session's events alone (the other one stopped).
  const complete = async (alone: string) => {
    for (const s of sessions) {
      const expected = after.filter((e) => e.session === s.id).map((e) => e.id);
      const ids: string[] = [];
      for (let afterSeq: number | null = 0; afterSeq !== null; ) {
        const res = await fetch(
          `${gateways[0]?.apiUrl}/api/v1/sessions/${s.id}/events?limit=1000&after_seq=${afterSeq}`,
          { headers: { authorization: `Bearer ${TOKEN}` } },
        );
        assert.equal(res.status, 200, `${alone} alone answers for ${s.id}`);
        const page = (await res.json()) as {
          data: Array<{ id: string }>;
          meta: { next_after_seq: number | null };
        };
        ids.push(...page.data.map((e) => e.id));
        afterSeq = page.data.length === 0 ? null : page.meta.next_after_seq;
      }
      assert.deepEqual(ids, expected, `${alone} alone: every event of ${s.id}`);
    }
  };
  await running.get('tracker-2')?.stop();
  await complete('tracker-1');
  await restart('tracker-2');
  await running.get('tracker-1')?.stop();
  await complete('tracker-2');

  const outage = longestOutage(prober.probes, rollingFrom, rollingTo);
  const failed = prober.probes.filter((p) => !p.ok).length;
  t.diagnostic(
    `rolling restart: ${stored.length} events from ${AGENTS} hosts in ${Math.round((Date.now() - began) / 1000)} s (all started in ${startedMs} ms); restarts: ${restartMs.join(', ')}`,
  );
  t.diagnostic(
    `rolling restart: ${prober.probes.length} API command probes over both APIs, ${failed} failed; longest outage ${outage} ms (goal ≤ ${RECONNECT_GOAL_MS} ms); ${once.acted} policy actions, ${once.exceeded} budget alerts, ${once.posted} alerts posted, none twice`,
  );
  assert.ok(outage <= RECONNECT_GOAL_MS, `API commands back within ${outage} ms`);
});

async function apiPost(apiUrl: string, path: string, body: Record<string, unknown>): Promise<number> {
  const res = await fetch(`${apiUrl}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(5_000),
  });
  await res.arrayBuffer();
  return res.status;
}

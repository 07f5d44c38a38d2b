import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { StreamName } from '@hal/protocol';
import { startNatsCluster, tempDir, waitFor } from '@hal/testkit';
import { longestOutage, startProber } from './api-prober.ts';
import {
  deliveryProblems,
  type SimAgent,
  startClusterStack,
  startGatewayProcess,
  startSimAgent,
  storedAgentEvents,
} from './cluster-harness.ts';

const AGENTS = 8;
const SESSIONS_PER_AGENT = 2;
/** Events per phase over all agents, spread over PHASE_MS; four phases. */
const PHASE_EVENTS = 1_250;
const PHASE_MS = 5_000;
const RECONNECT_GOAL_MS = 10_000;

test('cluster chaos - agents stream events while a NATS node dies and comes back and a gateway is SIGKILLed: every event stored once in session order, the tracker complete, commands back within the window', async (t) => {
  const began = Date.now();
  // Torn down in reverse: prober, agents, gw-2, then the control plane and the cluster.
  const cleanups: Array<() => Promise<unknown>> = [];
  t.after(async () => {
    for (const cleanup of cleanups.reverse()) await cleanup();
  });
  // The control plane (gw-1) and gw-2 start side by side on the cluster; both create the streams
  // (ensureStreams is safe to call from every service at the same time).
  const cluster = await startNatsCluster(3);
  cleanups.push(() => cluster.stop());
  const dir = tempDir('hal-cluster-chaos-');
  const [stackStart, g2Start] = await Promise.allSettled([
    startClusterStack({ cluster, dir }),
    startGatewayProcess({ natsUrl: cluster.url, replicas: 3, dir, name: 'gw-2' }),
  ]);
  if (stackStart.status === 'fulfilled') cleanups.push(() => stackStart.value.close());
  if (g2Start.status === 'fulfilled') cleanups.push(() => g2Start.value.stop());
  if (stackStart.status === 'rejected') throw stackStart.reason;
  if (g2Start.status === 'rejected') throw g2Start.reason;
  const [stack, g2] = [stackStart.value, g2Start.value];

  // Half the hosts start on gw-2, half on gw-1; each lists both.
  const agents: SimAgent[] = [];
  cleanups.push(() => Promise.all(agents.map((a) => a.stop())));
  await Promise.all(
    Array.from({ length: AGENTS }, async (_, i) => {
      const urls = i % 2 === 0 ? [g2.wsUrl, stack.wsUrl] : [stack.wsUrl, g2.wsUrl];
      agents.push(await startSimAgent({ node: `host-${i}`, urls, dir }));
    }),
  );
  // In host order: host-0 (on gw-2 first) is the probed one, and the even ones are gw-2's.
  agents.sort((a, b) => a.node.localeCompare(b.node));
  const sessionsOf = (a: SimAgent) =>
    Array.from({ length: SESSIONS_PER_AGENT }, (_, s) => `ses_${a.node.replace('-', '_')}_${s}`);
  for (const a of agents) for (const s of sessionsOf(a)) a.emit(s, 'session.created', { title: s });

  let emitted = 0;
  /** Emits PHASE_EVENTS events spread evenly over every session and over PHASE_MS. */
  const produce = async () => {
    const perTick = AGENTS * SESSIONS_PER_AGENT;
    const tickMs = PHASE_MS / (PHASE_EVENTS / perTick);
    for (let done = 0; done < PHASE_EVENTS; done += perTick) {
      for (const a of agents) {
        for (const s of sessionsOf(a)) {
          emitted += 1;
          a.emit(s, emitted % 2 === 0 ? 'session.busy' : 'session.idle', { n: emitted });
        }
      }
      await new Promise((r) => setTimeout(r, tickMs));
    }
  };

  // One command every 200 ms through the API to a host that moves when gw-2 dies (host-0).
  const [probed] = agents;
  assert.ok(probed !== undefined);
  const probeSession = sessionsOf(probed)[0] ?? '';
  await waitFor(async () => (await stack.api(`/api/v1/sessions/${probeSession}`)).status === 200, {
    message: 'the tracker knows the probed session',
  });
  const prober = startProber(async () => {
    const r = await stack.api(`/api/v1/sessions/${probeSession}/inject`, {
      prompt: 'probe',
      timeout_ms: 2_000,
    });
    return r.status === 200;
  });
  const { probes } = prober;
  cleanups.push(() => prober.stop());

  await produce();

  // 1. The node under gw-2's NATS connection dies while events flow (publishes in flight on it
  // are lost and retried while later ones go through another node), then comes back on its store.
  const jsm = await jetstreamClient(stack.nc).jetstreamManager();
  const underGw2 = await stack.cluster.nodeOfClient('hal-gateway');
  assert.ok(underGw2 !== undefined, "gw-2's NATS connection is on a node");
  const victim = stack.cluster.node(underGw2);
  const wasLeader = (await jsm.streams.info(StreamName.EVENTS)).cluster?.leader === victim.name;
  const natsProducing = produce();
  await new Promise((r) => setTimeout(r, PHASE_MS / 2));
  const natsKilledAt = Date.now();
  victim.kill('SIGKILL');
  await natsProducing;
  await victim.restart();
  await stack.cluster.waitForMetaLeader();
  // The next fault only once commands work again, so each outage is measured on its own.
  await waitFor(() => prober.okSince(Date.now() - 1_000), {
    timeoutMs: 30_000,
    message: 'API commands succeed after the NATS node restart',
  });

  // 2. gw-2 dies while events flow; its hosts move to gw-1.
  const onGw2 = agents.filter((_, i) => i % 2 === 0);
  const producing = produce();
  await new Promise((r) => setTimeout(r, PHASE_MS / 2));
  const gwKilledAt = Date.now();
  g2.kill();
  await producing;
  const moved = await waitFor(
    () => {
      const at = onGw2.map((a) => a.welcomes.find((w) => w.url === stack.wsUrl && w.at >= gwKilledAt)?.at);
      return at.every((x) => x !== undefined) ? at.map((x) => (x ?? 0) - gwKilledAt) : undefined;
    },
    { timeoutMs: 30_000, message: "gw-2's hosts reconnected to gw-1" },
  );
  await produce();

  await waitFor(() => agents.every((a) => a.spool.depth() === 0), {
    timeoutMs: 60_000,
    message: 'every spool drained (all events acked)',
  });
  // A last probe after the chaos so the final outage (if any) is closed by a success.
  await waitFor(() => prober.okSince(gwKilledAt + 1_000), {
    timeoutMs: 30_000,
    message: 'API commands succeed after the gateway kill',
  });
  await prober.stop();

  // The restarted node caught up: its own copy holds the whole stream.
  const total = (await jsm.streams.info(StreamName.EVENTS)).state.messages;
  await waitFor(
    async () => (await stack.cluster.streamMessagesOn(victim.name, StreamName.EVENTS)) === total,
    {
      timeoutMs: 30_000,
      message: `${victim.name} caught up to ${total} messages`,
    },
  );

  const stored = await storedAgentEvents(stack.nc);
  const sent = agents.reduce((sum, a) => sum + a.sent.length, 0);
  assert.deepEqual(deliveryProblems(agents, stored), []);
  assert.equal(stored.length, sent);

  // The tracker projected every event of every session, in the stream's order.
  for (const a of agents) {
    for (const s of sessionsOf(a)) {
      const expected = stored.filter((e) => e.session === s).map((e) => e.id);
      await waitFor(
        async () => {
          const ids: string[] = [];
          let after = 0;
          for (;;) {
            const r = await stack.api<{ data: Array<{ id: string; stream_seq: number }> }>(
              `/api/v1/sessions/${s}/events?limit=1000&after_seq=${after}`,
            );
            if (r.status !== 200) return false;
            ids.push(...r.body.data.map((e) => e.id));
            if (r.body.data.length < 1000) break;
            after = r.body.data.at(-1)?.stream_seq ?? after;
          }
          assert.deepEqual(ids, expected, `tracker events of ${s}`);
          return true;
        },
        { timeoutMs: 30_000, message: `the tracker projected every event of ${s}` },
      );
    }
  }

  const natsOutage = longestOutage(probes, natsKilledAt, gwKilledAt);
  const gwOutage = longestOutage(probes, gwKilledAt, Date.now());
  const agentMove = Math.max(...moved);
  t.diagnostic(
    `cluster chaos: ${sent} events from ${AGENTS} hosts (${AGENTS * SESSIONS_PER_AGENT} sessions) in ${Math.round((Date.now() - began) / 1000)} s, stored once each in session order; tracker complete`,
  );
  t.diagnostic(
    `cluster chaos: NATS node ${victim.name} (under gw-2${wasLeader ? ', HAL_EVENTS leader' : ''}) killed: API commands failed for at most ${natsOutage} ms; restarted and caught up`,
  );
  t.diagnostic(
    `cluster chaos: gateway gw-2 SIGKILLed: its hosts were back on gw-1 after ${moved.join(' / ')} ms (max ${agentMove} ms); API commands failed for at most ${gwOutage} ms`,
  );
  t.diagnostic(
    `cluster chaos: ${probes.length} API command probes, ${probes.filter((p) => !p.ok).length} failed`,
  );
  assert.ok(natsOutage <= RECONNECT_GOAL_MS, `API back within ${natsOutage} ms of the NATS node kill`);
  assert.ok(gwOutage <= RECONNECT_GOAL_MS, `API back within ${gwOutage} ms of the gateway kill`);
  assert.ok(agentMove <= RECONNECT_GOAL_MS, `hosts moved within ${agentMove} ms`);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createRegistry } from '@hal/observability';
import { formatProtocolVersion, makeEnvelope, WIRE_PROTOCOL } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import WebSocket from 'ws';
import { createGateway, type Gateway } from '../src/index.ts';
import {
  agentEvents,
  makeEvent,
  readEvents,
  SHARED_TOKEN,
  silentLog,
  startEnv,
  testConfig,
} from './ws-harness.ts';

const TOTAL = 10_000;
const BATCH = 250;
/** Unacked events the fake agent lets out before it waits, like the real agent's send window. */
const WINDOW = 2_000;

/**
 * A fake agent with the spool's resend rule: events stay until acked; after every welcome it
 * sends again from the oldest unacked one; it reconnects whenever the socket drops.
 */
function spoolingAgent(url: string, node: string) {
  const events = Array.from({ length: TOTAL }, (_, i) => makeEvent(node, i + 1));
  const state = { acked: 0, connections: 0, stopped: false };
  let ws: WebSocket | undefined;
  const run = (): void => {
    if (state.stopped) return;
    let sent = state.acked;
    let welcomed = false;
    const sock = new WebSocket(url, {
      headers: { authorization: `Bearer ${SHARED_TOKEN}`, 'x-hal-node': node },
    });
    ws = sock;
    const pump = (): void => {
      while (welcomed && sent < TOTAL && sent - state.acked < WINDOW && sock.readyState === WebSocket.OPEN) {
        const batch = events.slice(sent, sent + BATCH);
        sock.send(JSON.stringify(makeEnvelope('events', { events: batch as never })));
        sent += batch.length;
      }
    };
    sock.on('open', () => {
      state.connections++;
      sock.send(
        JSON.stringify(
          makeEnvelope('hello', {
            node,
            agent_version: 'spool-test',
            protocol: formatProtocolVersion(WIRE_PROTOCOL),
            projects: [],
            last_acked_seq: state.acked,
          }),
        ),
      );
    });
    sock.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string; payload: { seq: number } };
      if (frame.type === 'welcome') {
        welcomed = true;
        pump();
      } else if (frame.type === 'ack') {
        state.acked = Math.max(state.acked, frame.payload.seq);
        pump();
      }
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (!state.stopped) setTimeout(run, 50);
    });
  };
  run();
  return {
    state,
    stop() {
      state.stopped = true;
      ws?.terminate();
    },
  };
}

test('ws restart - gateway restarted twice while an agent streams 10,000 events: all stored once, in order', async (t) => {
  const env = await startEnv();
  const port = env.gateway.address().port;
  let current: Gateway = env.gateway;
  const agent = spoolingAgent(env.url, 'node-stream');
  t.after(async () => {
    agent.stop();
    await current.stop();
    await env.close();
  });

  for (const at of [2_500, 6_000]) {
    await waitFor(() => agent.state.acked >= at, { timeoutMs: 30_000, message: `acked ${at}` });
    await current.stop();
    current = createGateway({
      config: testConfig({ server: { host: '127.0.0.1', port, auth_token: SHARED_TOKEN } }),
      nc: env.nc,
      log: silentLog,
      registry: createRegistry({ defaultMetrics: false }),
      gatewayId: `gw-after-${at}`,
      stopGraceMs: 500,
    });
    await current.start();
  }
  await waitFor(() => agent.state.acked === TOTAL, { timeoutMs: 60_000, message: 'all acked' });
  assert.ok(agent.state.connections >= 3, `agent connected ${agent.state.connections} times`);

  const stored = agentEvents(await readEvents(env.nc, 30_000)).filter((s) => s.event.node === 'node-stream');
  assert.equal(stored.length, TOTAL);
  assert.equal(new Set(stored.map((s) => s.event.id)).size, TOTAL);
  const seqs = stored.map((s) => s.event.seq);
  assert.deepEqual(
    seqs,
    Array.from({ length: TOTAL }, (_, i) => i + 1),
  );
});

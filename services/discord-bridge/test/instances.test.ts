import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectBus, type NatsConnection } from '@hal/bus';
import { Readiness } from '@hal/observability';
import type { Notification } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { createDiscordBridge, type DiscordBridge } from '../src/index.ts';
import { alertMessages, type BridgeHarness, log, startBridgeHarness } from './bridge-harness.ts';

const TTL_SEC = 1.5;
let h: BridgeHarness;
before(async () => {
  h = await startBridgeHarness();
});
after(async () => {
  await h.close();
});

const footerId = (m: { embeds: Array<Record<string, unknown>> }) =>
  String((m.embeds[0]?.footer as { text?: string } | undefined)?.text ?? '').split(' · ')[1];

/** A bridge on a NATS connection of its own, so that a test can drop it as a killed process would. */
async function bridge(): Promise<{ b: DiscordBridge; nc: NatsConnection }> {
  const nc = await connectBus({ url: h.nats.url, name: 'bridge-instance', log });
  const b = createDiscordBridge({
    config: { discord: h.config, audit: { enabled: true }, instances: { lease_ttl_sec: TTL_SEC } },
    nc,
    log,
    readiness: new Readiness(),
    backoff: { initialMs: 100, maxMs: 1_000 },
    claimTimeoutMs: 5_000,
  });
  await b.start();
  await waitFor(() => b.client.isReady(), { message: 'bridge bot connected to the fake Discord' });
  return { b, nc };
}

const postsTo = (channel: string) =>
  h.discord.calls.filter((c) => c.method === 'POST' && c.path === `/channels/${channel}/messages`).length;

test('discord bridge instances - one of two posts; killed, the other takes over within the lease; no notification posted twice', async (t) => {
  const a = await bridge();
  const b = await bridge();
  assert.equal(a.b.isLeader(), true);
  assert.equal(b.b.isLeader(), false, 'the second instance stands by');
  const alerts = h.discord.channelId('alerts');
  const postsBefore = postsTo(alerts);
  const sent: Notification[] = [];
  for (let i = 0; i < 10; i++) sent.push(await h.notify({ title: `before ${i}` }));
  await waitFor(() => sent.every((n) => alertMessages(h.discord).some((m) => footerId(m) === n.id)));

  // The leader dies without releasing: notifications published meanwhile wait in the stream.
  const killed = performance.now();
  await a.nc.close();
  for (let i = 0; i < 10; i++) sent.push(await h.notify({ title: `after ${i}` }));
  await waitFor(() => b.b.isLeader(), { timeoutMs: 4 * TTL_SEC * 1000, message: 'b takes over' });
  await waitFor(() => sent.every((n) => alertMessages(h.discord).some((m) => footerId(m) === n.id)), {
    message: 'every notification posted',
  });
  const took = performance.now() - killed;
  t.diagnostic(`all posted ${Math.round(took)} ms after the leader was killed (lease ${TTL_SEC} s)`);
  for (const n of sent)
    assert.equal(alertMessages(h.discord).filter((m) => footerId(m) === n.id).length, 1, n.title);
  // One attempt per notification: the standby never tried to post while the leader did.
  assert.equal(postsTo(alerts) - postsBefore, sent.length);
  await a.b.stop().catch(() => undefined);
  await b.b.stop();
  await b.nc.close();
});

test('discord bridge instances - a clean stop hands the posting over at once', async () => {
  const a = await bridge();
  const b = await bridge();
  await a.b.stop();
  await a.nc.close();
  await waitFor(() => b.b.isLeader(), {
    timeoutMs: TTL_SEC * 1000,
    message: 'before the lease could expire',
  });
  const n = await h.notify({ title: 'after the hand-over' });
  await waitFor(() => alertMessages(h.discord).some((m) => footerId(m) === n.id));
  await b.b.stop();
  await b.nc.close();
});

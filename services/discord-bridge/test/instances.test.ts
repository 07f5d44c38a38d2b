import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectBus, type NatsConnection } from '@hal/bus';
import { Readiness } from '@hal/observability';
import type { Notification } from '@hal/protocol';
import { startNatsLinkProxy, waitFor } from '@hal/testkit';
import { createDiscordBridge, type DiscordBridge } from '../src/index.ts';
import { alertMessages, type BridgeHarness, log, startBridgeHarness } from './bridge-harness.ts';

const TTL_SEC = 1.5;
/** Of the bridge's consumers (default 10 s): what a hung leader was given is delivered again after it. */
const ACK_WAIT_MS = 2_000;
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
async function bridge(natsUrl = h.nats.url): Promise<{ b: DiscordBridge; nc: NatsConnection }> {
  const nc = await connectBus({ url: natsUrl, name: 'bridge-instance', log });
  const b = createDiscordBridge({
    config: { discord: h.config, audit: { enabled: true }, instances: { lease_ttl_sec: TTL_SEC } },
    nc,
    log,
    readiness: new Readiness(),
    backoff: { initialMs: 100, maxMs: 1_000 },
    claimTimeoutMs: 5_000,
    ackWaitMs: ACK_WAIT_MS,
  });
  await b.start();
  await waitFor(() => b.client.isReady(), { message: 'bridge bot connected to the fake Discord' });
  return { b, nc };
}

const postCalls = (channel: string) =>
  h.discord.calls.filter((c) => c.method === 'POST' && c.path === `/channels/${channel}/messages`);
const postsTo = (channel: string) => postCalls(channel).length;
/**
 * The message posts since `from` that Discord accepted (a post repeated with the same nonce is
 * accepted too, so a second attempt counts). A 429 is not a post: two instances each keep their
 * own view of the channel's rate-limit bucket, so one may be refused and retry after the other
 * posted. Anything else refused fails here.
 */
function acceptedPosts(channel: string, from: number): number {
  const calls = postCalls(channel).slice(from);
  const refused = calls.filter((c) => c.status >= 300 && c.status !== 429);
  assert.deepEqual(
    refused.map((c) => c.status),
    [],
    'only rate-limited posts may be refused',
  );
  return calls.filter((c) => c.status < 300).length;
}

test('discord bridge instances - one of two posts; killed, the other takes over within the lease; no notification posted twice', async (t) => {
  const a = await bridge();
  const b = await bridge();
  t.after(() => stopAll(a, b));
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
  assert.equal(acceptedPosts(alerts, postsBefore), sent.length);
});

test('discord bridge instances - a clean stop hands the posting over at once', async (t) => {
  const a = await bridge();
  const b = await bridge();
  t.after(() => stopAll(a, b));
  await a.b.stop();
  await a.nc.close();
  await waitFor(() => b.b.isLeader(), {
    timeoutMs: TTL_SEC * 1000,
    message: 'before the lease could expire',
  });
  const n = await h.notify({ title: 'after the hand-over' });
  await waitFor(() => alertMessages(h.discord).some((m) => footerId(m) === n.id));
});

test('discord bridge instances - the leader hangs with notifications delivered to it: the other posts them within ack_wait, each once', async (t) => {
  const proxy = await startNatsLinkProxy(h.nats.url);
  t.after(() => proxy.stop());
  const a = await bridge(proxy.url);
  const b = await bridge();
  t.after(() => stopAll(a, b));
  assert.equal(a.b.isLeader(), true);
  const alerts = h.discord.channelId('alerts');
  const postsBefore = postsTo(alerts);

  // a's pull is waiting at the server; it hangs, so what is published next is delivered to it
  // and never acked (nor is its lease renewed).
  proxy.freeze();
  const hung = performance.now();
  const sent: Notification[] = [];
  for (let i = 0; i < 5; i++) sent.push(await h.notify({ title: `while hung ${i}` }));
  await waitFor(() => b.b.isLeader(), { timeoutMs: 4 * TTL_SEC * 1000, message: 'b takes over' });
  await waitFor(() => sent.every((n) => alertMessages(h.discord).some((m) => footerId(m) === n.id)), {
    timeoutMs: 4 * (TTL_SEC * 1000 + ACK_WAIT_MS),
    message: 'every notification delivered to the hung leader posted by the other',
  });
  t.diagnostic(
    `all posted ${Math.round(performance.now() - hung)} ms after the leader hung (ack_wait ${ACK_WAIT_MS} ms)`,
  );
  for (const n of sent)
    assert.equal(alertMessages(h.discord).filter((m) => footerId(m) === n.id).length, 1, n.title);
  assert.equal(acceptedPosts(alerts, postsBefore), sent.length);
});

async function stopAll(...instances: Array<{ b: DiscordBridge; nc: NatsConnection }>): Promise<void> {
  for (const { b, nc } of instances) {
    await b.stop().catch(() => undefined);
    await nc.close().catch(() => undefined);
  }
}

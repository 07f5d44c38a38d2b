import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { createRegistry } from '@hal/observability';
import { waitFor } from '@hal/testkit';
import type { DiscordBridge } from '../src/index.ts';
import { alertMessages, type BridgeHarness, startBridgeHarness } from './bridge-harness.ts';

// A flood is one message edited in place: the policy service's digest (and a repeat while the
// flood goes on) edits the alert already posted instead of posting another — through discord.js's
// message edit (PATCH /channels/{id}/messages/{id}) against the fake Discord, 429s included.
let h: BridgeHarness;
let bridge: DiscordBridge;
const registry = createRegistry({ defaultMetrics: false });

before(async () => {
  h = await startBridgeHarness();
  bridge = await h.startBridge({ registry });
});
after(async () => {
  await h?.close();
});

type Msg = ReturnType<typeof alertMessages>[number];
const fields = (m: Msg) => (m.embeds[0]?.fields ?? []) as Array<{ name: string; value: string }>;
const field = (m: Msg, name: string) => fields(m).find((f) => f.name === name)?.value;
const footer = (m: Msg) => String((m.embeds[0]?.footer as { text?: string } | undefined)?.text);
const labels = (m: Msg) =>
  ((m.components[0]?.components ?? []) as Array<{ label: string; custom_id: string }>).map((c) => [
    c.label,
    c.custom_id,
  ]);
const patchesOf = (m: Msg) =>
  h.discord.calls.filter(
    (c) => c.method === 'PATCH' && c.path === `/channels/${m.channel_id}/messages/${m.id}`,
  );

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = (m?.values ?? []).find((x) =>
    Object.entries(labels).every(([k, want]) => (x.labels as Record<string, unknown>)[k] === want),
  );
  return Number(v?.value ?? 0);
}

/** What the policy service sends after a window with `suppressed` more alike (notifier.ts digestOf). */
const digestOf = (first: { kind: string; title: string; session?: string }, suppressed: number) => ({
  kind: `${first.kind}.digest`,
  title: `${suppressed} more: ${first.title}`,
  body: `${suppressed} more notifications like this one in 60 s were collapsed into this digest.`,
  count: suppressed,
  ...(first.session ? { session: first.session } : {}),
});

test('discord collapse - a digest edits the alert already posted: one message, the count, the same buttons', async () => {
  const session = `ses_flood_${randomUUID().slice(0, 8)}`;
  const before = alertMessages(h.discord).length;
  const first = await h.notify({ session, title: 'Session error: FloodError', body: 'the same error again' });
  const msg = await waitFor(() => alertMessages(h.discord).find((m) => footer(m).endsWith(first.id)));
  assert.equal(field(msg, 'Collapsed'), undefined);
  const buttons = labels(msg);
  assert.deepEqual(buttons, [
    ['Resume', `al:resume:${first.id}`],
    ['Restart', `al:restart:${first.id}`],
    ['Kill', `al:kill:${first.id}`],
  ]);

  await h.notify({ session, ...digestOf(first, 199) });
  await waitFor(() => field(msg, 'Collapsed')?.startsWith('200 alike'), { message: 'the alert edited' });
  assert.match(field(msg, 'Collapsed') ?? '', /^200 alike, the last <t:\d+:R>$/);
  // Still the first alert: its title, footer and buttons; the digest's own title never shows.
  assert.equal(msg.embeds[0]?.title, 'Session error: FloodError');
  assert.equal(footer(msg), `session.error · ${first.id}`);
  assert.deepEqual(labels(msg), buttons);
  assert.equal(patchesOf(msg).length, 1);
  assert.equal(patchesOf(msg)[0]?.status, 200);
  assert.equal(msg.history.length, 1, 'edited once, in place');

  // The next window's first notification while the flood goes on joins the same message, and
  // shows the latest details.
  await h.notify({ session, title: 'Session error: FloodError', body: 'the same error, once more' });
  await waitFor(() => field(msg, 'Collapsed')?.startsWith('201 alike'));
  assert.equal(msg.embeds[0]?.description, 'the same error, once more');
  assert.equal(alertMessages(h.discord).length, before + 1, 'one message for the whole flood');
  // Counted once the alert's record is written, just after the edit.
  await waitFor(
    async () => (await metric('hal_o_swarm_discord_notifications_total', { outcome: 'edited' })) === 2,
  );
  assert.ok((await metric('hal_o_swarm_discord_notifications_total', { outcome: 'posted' })) >= 1);
});

test('discord collapse - a repeat with no flood going on, and a digest of another session, are new messages', async () => {
  const session = `ses_calm_${randomUUID().slice(0, 8)}`;
  const before = alertMessages(h.discord).length;
  await h.notify({ session });
  await waitFor(() => alertMessages(h.discord).length === before + 1);
  // No digest came: the policy sent this repeat as news (a new window), so it is a new alert.
  await h.notify({ session });
  await waitFor(() => alertMessages(h.discord).length === before + 2);
  const other = `ses_other_${randomUUID().slice(0, 8)}`;
  await h.notify({ session: other, ...digestOf({ kind: 'session.error', title: 'Session error: X' }, 3) });
  const lone = await waitFor(() =>
    alertMessages(h.discord).find((m) => field(m, 'Session') === `\`${other}\``),
  );
  assert.equal(field(lone, 'Collapsed'), '3 alike');
  assert.equal(alertMessages(h.discord).length, before + 3);
});

test('discord collapse - a 429 on the edit is waited out (retry_after) and counted; the edit lands once', async () => {
  const session = `ses_limited_${randomUUID().slice(0, 8)}`;
  const first = await h.notify({ session, title: 'Session error: Limited' });
  const msg = await waitFor(() => alertMessages(h.discord).find((m) => footer(m).endsWith(first.id)));
  const limitedBefore = await metric('hal_o_swarm_discord_rate_limits_total', { scope: 'user' });
  h.discord.rateLimitNext({ method: 'PATCH', path: /^\/channels\/\d+\/messages\/\d+$/, retryAfterMs: 400 });
  const t0 = Date.now();
  await h.notify({ session, ...digestOf(first, 9) });
  await waitFor(() => field(msg, 'Collapsed')?.startsWith('10 alike'), { message: 'edited after the 429' });
  assert.ok(Date.now() - t0 >= 400, 'waited retry_after');
  assert.deepEqual(
    patchesOf(msg).map((c) => c.status),
    [429, 200],
  );
  assert.equal(msg.history.length, 1);
  await waitFor(
    async () =>
      (await metric('hal_o_swarm_discord_rate_limits_total', { scope: 'user' })) === limitedBefore + 1,
  );
});

test('discord collapse - after Acknowledge, a digest keeps the result and no buttons; a later repeat is a new alert', async () => {
  const session = `ses_budget_${randomUUID().slice(0, 8)}`;
  const first = await h.notify({
    session,
    kind: 'cost.budget_exceeded',
    severity: 'warning',
    title: 'Budget exceeded: daily',
    body: '$5.10 of $5.00',
  });
  const msg = await waitFor(() => alertMessages(h.discord).find((m) => footer(m).endsWith(first.id)));
  assert.deepEqual(
    labels(msg).map(([l]) => l),
    ['Kill', 'Acknowledge'],
  );
  // A viewer's click is refused (ephemeral) and counted; the operator's acknowledges.
  h.discord.clickButton({ messageId: msg.id, customId: `al:ack:${first.id}`, user: h.users.viewer });
  await waitFor(
    async () =>
      (await metric('hal_o_swarm_discord_interactions_total', { kind: 'button', outcome: 'refused' })) === 1,
  );
  h.discord.clickButton({ messageId: msg.id, customId: `al:ack:${first.id}`, user: h.users.operator });
  await waitFor(() => field(msg, 'Result')?.startsWith('✅ acknowledged — by otto'), {
    message: 'acknowledged',
  });
  assert.deepEqual(msg.components, []);
  await waitFor(
    async () =>
      (await metric('hal_o_swarm_discord_interactions_total', { kind: 'button', outcome: 'ok' })) === 1,
  );

  await h.notify({ session, ...digestOf(first, 4), kind: 'cost.budget_exceeded.digest' });
  await waitFor(() => field(msg, 'Collapsed')?.startsWith('5 alike'));
  assert.match(
    field(msg, 'Result') ?? '',
    new RegExp(`^✅ acknowledged — by otto \\(<@${h.users.operator.id}>\\)$`),
  );
  assert.deepEqual(msg.components, [], 'a handled alert stays without buttons');

  const before = alertMessages(h.discord).length;
  const again = await h.notify({ session, kind: 'cost.budget_exceeded', title: 'Budget exceeded: daily' });
  const fresh = await waitFor(() => alertMessages(h.discord).find((m) => footer(m).endsWith(again.id)));
  assert.equal(alertMessages(h.discord).length, before + 1);
  assert.deepEqual(
    labels(fresh).map(([l]) => l),
    ['Kill', 'Acknowledge'],
  );
  assert.ok(bridge.client.isReady());
});

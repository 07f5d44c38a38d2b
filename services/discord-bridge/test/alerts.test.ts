import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { Readiness } from '@hal/observability';
import type { Notification } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { nonceOf } from '../src/index.ts';
import { alertMessages, type BridgeHarness, startBridgeHarness } from './bridge-harness.ts';

let h: BridgeHarness;

before(async () => {
  h = await startBridgeHarness();
});
after(async () => {
  await h?.close();
});

const buttonsOf = (m: { components: Array<Record<string, unknown>> }) =>
  (m.components[0]?.components ?? []) as Array<{ label: string; custom_id: string }>;

const footerId = (m: { embeds: Array<Record<string, unknown>> }) =>
  String((m.embeds[0]?.footer as { text?: string } | undefined)?.text ?? '').split(' · ')[1];

test('discord bridge - registers every slash command as guild commands, the same set on each start', async () => {
  const b = await h.startBridge();
  await waitFor(() => h.discord.commands().length > 0);
  const names = h.discord
    .commands()
    .map((c) => c.name)
    .sort();
  assert.deepEqual(names, [
    'approve',
    'budgets',
    'cost',
    'deny',
    'inject',
    'kill',
    'logs',
    'nodes',
    'policies',
    'policy',
    'restart',
    'resume',
    'session',
    'sessions',
    'start',
    'status',
  ]);
  const puts = h.discord.calls.filter((c) => c.method === 'PUT' && c.path.endsWith('/commands'));
  assert.ok(puts.length >= 1 && puts.every((c) => c.status === 200));
  await h.stopBridge(b);
});

test('discord bridge - an alert is posted once, as an embed with Resume / Restart / Kill and a nonce', async () => {
  const b = await h.startBridge();
  const before = alertMessages(h.discord).length;
  const n = await h.notify();
  const msg = await waitFor(() => alertMessages(h.discord).find((m) => footerId(m) === n.id));
  const e = msg.embeds[0]!;
  assert.equal(e.title, 'Session error: APIError');
  assert.equal(e.color, 0xe74c3c);
  const fields = e.fields as Array<{ name: string; value: string }>;
  assert.deepEqual(
    fields.filter((f) => ['Node', 'Project', 'Session'].includes(f.name)).map((f) => [f.name, f.value]),
    [
      ['Node', 'alpha'],
      ['Project', 'web'],
      ['Session', '`ses_test`'],
    ],
  );
  const buttons = buttonsOf(msg).map((c) => [c.label, c.custom_id]);
  assert.deepEqual(buttons, [
    ['Resume', `al:resume:${n.id}`],
    ['Restart', `al:restart:${n.id}`],
    ['Kill', `al:kill:${n.id}`],
  ]);
  const post = h.discord.calls.find(
    (c) => c.method === 'POST' && (c.response as { id?: string })?.id === msg.id,
  );
  assert.deepEqual(
    [
      (post?.body as { nonce?: string } | undefined)?.nonce,
      (post?.body as { enforce_nonce?: boolean } | undefined)?.enforce_nonce,
    ],
    [nonceOf(n.id), true],
  );
  assert.equal(alertMessages(h.discord).length, before + 1);

  const perm = await h.notify({
    kind: 'permission.asked',
    severity: 'warning',
    title: 'Permission requested: bash',
    actions: [
      {
        label: 'Approve once',
        command: {
          method: 'POST',
          path: '/api/v1/sessions/ses_test/permissions/per_1',
          body: { response: 'once' },
        },
      },
    ],
  });
  const pm = await waitFor(() => alertMessages(h.discord).find((m) => footerId(m) === perm.id));
  assert.deepEqual(
    buttonsOf(pm).map((c) => c.label),
    ['Approve once', 'Always', 'Reject'],
  );
  const budget = await h.notify({ kind: 'cost.budget_exceeded', title: 'Budget exceeded' });
  const bm = await waitFor(() => alertMessages(h.discord).find((m) => footerId(m) === budget.id));
  assert.deepEqual(
    buttonsOf(bm).map((c) => c.label),
    ['Kill', 'Acknowledge'],
  );
  await h.stopBridge(b);
});

test('discord bridge - two instances side by side never post an alert twice', async () => {
  const [a, b] = [await h.startBridge(), await h.startBridge()];
  const before = alertMessages(h.discord).length;
  const sent: Notification[] = [];
  for (let i = 0; i < 20; i++) sent.push(await h.notify({ title: `burst ${i}` }));
  await waitFor(() => sent.every((n) => alertMessages(h.discord).some((m) => footerId(m) === n.id)), {
    message: 'all 20 posted',
  });
  assert.equal(alertMessages(h.discord).length, before + 20);
  for (const n of sent) assert.equal(alertMessages(h.discord).filter((m) => footerId(m) === n.id).length, 1);
  await h.stopBridge(a);
  await h.stopBridge(b);
});

test('discord bridge - a restart posts nothing old; alerts published while it was down arrive once', async () => {
  const b = await h.startBridge();
  const first = await h.notify({ title: 'before the restart' });
  await waitFor(() => alertMessages(h.discord).some((m) => footerId(m) === first.id));
  await h.stopBridge(b);
  const whileDown = await h.notify({ title: 'while the bridge was down' });
  const countBefore = alertMessages(h.discord).length;
  const again = await h.startBridge();
  const marker = await h.notify({ title: 'after the restart' });
  await waitFor(() => alertMessages(h.discord).some((m) => footerId(m) === marker.id));
  assert.equal(
    alertMessages(h.discord).filter((m) => footerId(m) === first.id).length,
    1,
    'old alert not re-posted',
  );
  assert.equal(alertMessages(h.discord).filter((m) => footerId(m) === whileDown.id).length, 1);
  assert.equal(alertMessages(h.discord).length, countBefore + 2);
  await h.stopBridge(again);
});

test('discord bridge - Discord unreachable: alerts wait in the stream and each arrives once afterwards', async () => {
  const outageMs = Number(process.env.HAL_TEST_DISCORD_OUTAGE_MS ?? 10_000);
  const readiness = new Readiness();
  const b = await h.startBridge({ readiness });
  await h.discord.goDown();
  const t0 = Date.now();
  const sent: Notification[] = [];
  for (let i = 0; i < 10; i++) sent.push(await h.notify({ title: `during the outage ${i}` }));
  const report = await readiness.evaluate();
  assert.equal(report.ready, true, 'an unreachable Discord does not make the service unready');
  await new Promise((r) => setTimeout(r, Math.max(0, outageMs - (Date.now() - t0))));
  assert.ok(
    !sent.some((n) => alertMessages(h.discord).some((m) => footerId(m) === n.id)),
    'nothing could be posted while down',
  );
  await h.discord.comeUp();
  await waitFor(() => sent.every((n) => alertMessages(h.discord).some((m) => footerId(m) === n.id)), {
    timeoutMs: 60_000,
    message: 'every alert posted after the outage',
  });
  for (const n of sent) assert.equal(alertMessages(h.discord).filter((m) => footerId(m) === n.id).length, 1);
  // In order: the stream's order is kept through the outage.
  const order = alertMessages(h.discord)
    .filter((m) => sent.some((n) => n.id === footerId(m)))
    .map(footerId);
  assert.deepEqual(
    order,
    sent.map((n) => n.id),
  );
  await waitFor(() => b.client.isReady() && h.discord.readySockets() >= 1, {
    timeoutMs: 30_000,
    message: 'gateway back',
  });
  await h.stopBridge(b);
});

test('discord bridge - a 429 on posting is waited out (retry-after), and the alert is posted once', async () => {
  const b = await h.startBridge();
  h.discord.rateLimitNext({ method: 'POST', path: /\/channels\/\d+\/messages$/, retryAfterMs: 500 });
  const n = await h.notify({ title: 'rate limited' });
  await waitFor(() => alertMessages(h.discord).some((m) => footerId(m) === n.id));
  const posts = h.discord.calls.filter(
    (c) => c.method === 'POST' && c.path === `/channels/${h.discord.channelId('alerts')}/messages`,
  );
  assert.ok(
    posts.some((c) => c.status === 429),
    'the fake answered 429',
  );
  assert.equal(alertMessages(h.discord).filter((m) => footerId(m) === n.id).length, 1);
  await h.stopBridge(b);
});

test('discord bridge - after a dropped gateway the bot resumes and still answers interactions within 3 s', async () => {
  const b = await h.startBridge();
  const resumes = h.discord.resumes();
  h.discord.dropGateway();
  await waitFor(() => h.discord.resumes() > resumes && h.discord.readySockets() >= 1, { message: 'resumed' });
  const sent = h.discord.runCommand({ name: 'nodes', user: h.users.viewer });
  const answered = await waitFor(() => {
    const i = h.discord.interaction(sent.id);
    const m = i?.originalId ? h.discord.message(i.originalId) : undefined;
    return m && (m.flags & 128) === 0 ? m : undefined;
  });
  // No tracker runs in this harness: the answer is the error, with its code.
  assert.match(JSON.stringify(answered.embeds), /UNAVAILABLE/);
  assert.equal(h.discord.interaction(sent.id)?.callback?.type, 5, 'deferred first');
  await h.stopBridge(b);
});

test('discord bridge - someone without a HAL role is refused ephemerally and the refusal is audited', async () => {
  const b = await h.startBridge();
  const sent = h.discord.runCommand({ name: 'kill', options: { target: 'web' }, user: h.users.stranger });
  const reply = await waitFor(() => {
    const i = h.discord.interaction(sent.id);
    return i?.originalId ? h.discord.message(i.originalId) : undefined;
  });
  assert.equal(reply.flags & 64, 64);
  assert.match(
    reply.content,
    /^🚫 session\.kill needs the operator role; sam is not a HAL viewer, operator or admin/,
  );
  const audit = await waitFor(async () => {
    const jsm = await jetstreamClient(h.nc).jetstreamManager();
    const m = await jsm.streams
      .getMessage('HAL_AUDIT', { last_by_subj: 'hal.audit.discord' })
      .catch(() => null);
    return m
      ? (m.json() as { actor: unknown; action: string; result: { code: string }; source: string })
      : undefined;
  });
  assert.deepEqual(audit.actor, { kind: 'discord', id: h.users.stranger.id, name: 'sam' });
  assert.equal(audit.action, 'session.kill');
  assert.equal(audit.result.code, 'FORBIDDEN');
  assert.equal(audit.source, 'discord');
  await h.stopBridge(b);
});

test('discord bridge - two instances both receive an interaction; exactly one answers it', async () => {
  const [a, b] = [await h.startBridge(), await h.startBridge()];
  const sent = h.discord.runCommand({ name: 'nodes', user: h.users.viewer });
  await waitFor(() => {
    const i = h.discord.interaction(sent.id);
    const m = i?.originalId ? h.discord.message(i.originalId) : undefined;
    return m && (m.flags & 128) === 0;
  });
  const callbacks = h.discord.calls.filter((c) => c.path.startsWith(`/interactions/${sent.id}/`));
  await waitFor(
    () => h.discord.calls.filter((c) => c.path.startsWith(`/interactions/${sent.id}/`)).length === 2,
    {
      message: 'both instances tried to acknowledge',
    },
  );
  const statuses = h.discord.calls
    .filter((c) => c.path.startsWith(`/interactions/${sent.id}/`))
    .map((c) => c.status)
    .sort();
  assert.deepEqual(statuses, [204, 400], JSON.stringify(callbacks));
  const edits = h.discord.calls.filter(
    (c) =>
      c.method === 'PATCH' &&
      c.path.includes(`/messages/@original`) &&
      c.path.includes(h.discord.interaction(sent.id)!.token),
  );
  assert.equal(edits.length, 1, 'one answer');
  await h.stopBridge(a);
  await h.stopBridge(b);
});

import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { jetstreamClient, publishEvent } from '@hal/bus';
import { auditRecordSchema } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { buttonsOf, type DiscordFleet, EPHEMERAL, startDiscordFleet, text } from './discord-harness.ts';

// Alert buttons end to end (issue 11): a permission's Reject and Always answered in real opencode
// (the tool does not run / runs), and the budget alert's Acknowledge and Kill ("budget → Kill /
// Acknowledge"): the real policy routes the events to #alerts, discord.js receives the clicks
// from the fake Discord, and Kill aborts the busy turn in opencode. The budget events are
// published as the cost poller publishes them (a session budget crossed), so the test does not
// wait for real spend. (Approve once and Resume: discord-alerts-e2e; /kill's confirmation:
// discord-kill-e2e.)
let d: DiscordFleet;
let session = '';

before(async () => {
  d = await startDiscordFleet();
});

after(async () => {
  await d?.close();
});

/** What the cost poller publishes when a session budget is crossed (cost-poller budgets.ts). */
async function budgetEvent(type: 'cost.budget_exceeded' | 'cost.budget_warning', budget: string) {
  await publishEvent(jetstreamClient(d.fleet.nc), {
    version: 1,
    id: randomUUID(),
    seq: 0,
    node: 'alpha',
    project: 'web',
    session,
    type,
    time: new Date().toISOString(),
    data: {
      budget,
      scope: 'session',
      period: 'day',
      period_key: new Date().toISOString().slice(0, 10),
      limit_usd: 1,
      spent_usd: type === 'cost.budget_exceeded' ? 1.25 : 0.85,
      share: type === 'cost.budget_exceeded' ? 1.25 : 0.85,
      warn_share: 0.8,
    },
  });
}

const budgetAlert = (kind: string) =>
  waitFor(
    () =>
      d.discord
        .messages(d.discord.channelId('alerts'))
        .find((m) => text(m).includes(`${kind} ·`) && text(m).includes(session) && m.components.length > 0),
    { timeoutMs: 30_000, message: `${kind} alert with buttons` },
  );

async function auditOf(action: string) {
  const res = await d.fleet.api<{ data: unknown[] }>(`/api/v1/audit?action=${action}&limit=20`);
  return res.body.data.map((r) => auditRecordSchema.parse(r));
}

test('discord e2e budget - /start opens the session the budget is about', async () => {
  d.llm.script({ text: 'Ready to spend.' });
  const answer = await d.slash(
    'start',
    { project: 'web', prompt: `budget-${randomUUID()}` },
    d.users.operator,
  );
  session = /`(ses_[^`]+)`/.exec(text(answer))?.[1] ?? '';
  assert.ok(session, text(answer));
  await waitFor(async () => (await d.sessionView(session))?.state === 'idle', { timeoutMs: 90_000 });
});

test('discord e2e - a budget warning: Acknowledge is audited with the Discord user and says who', async () => {
  await budgetEvent('cost.budget_warning', 'web-daily');
  const alert = await budgetAlert('cost.budget_warning');
  assert.deepEqual(
    buttonsOf(alert).map((c) => c.label),
    ['Kill', 'Acknowledge'],
  );
  const ack = buttonsOf(alert).find((c) => c.label === 'Acknowledge')!;
  const { edited } = await d.clickAndWait(alert, ack.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000, message: 'alert edited with the result' });
  assert.match(text(alert), /✅ acknowledged — by otto/);
  assert.deepEqual(alert.components, []);
  const [record] = await waitFor(async () => {
    const r = await auditOf('alert.acknowledge');
    return r.length > 0 ? r : undefined;
  });
  assert.deepEqual(record!.actor, { kind: 'discord', id: d.users.operator.id, name: 'otto' });
  assert.equal(record!.target.session, session);
  assert.equal(record!.source, 'discord');
  // The session was left alone.
  assert.equal((await d.sessionView(session)).state, 'idle');
});

/** The next permission alert for the session, one not seen before, with its buttons. */
async function nextPermissionAlert(seen: Set<string>, of: string) {
  return waitFor(
    () =>
      d.discord
        .messages(d.discord.channelId('alerts'))
        .find(
          (m) =>
            !seen.has(m.id) &&
            /Permission requested/.test(text(m)) &&
            text(m).includes(of) &&
            m.components.length > 0,
        ),
    { timeoutMs: 30_000, message: 'a new permission alert with buttons' },
  );
}

/** `reply`: what the model says once the tool ran (absent: a rejected tool ends the turn). */
async function askPermission(file: string, reply: string | undefined, of = session) {
  await waitFor(async () => (await d.sessionView(of)).state === 'idle', { timeoutMs: 30_000 });
  const seen = new Set(d.discord.messages(d.discord.channelId('alerts')).map((m) => m.id));
  d.llm.script(
    { toolCall: { name: 'bash', arguments: { command: `touch ${file}`, description: `create ${file}` } } },
    ...(reply === undefined ? [] : [{ text: reply }]),
  );
  await d.slash('inject', { target: of, message: `create ${file}` }, d.users.operator);
  return nextPermissionAlert(seen, of);
}

const projectFile = (name: string) => join(d.opencode.projects[0]!.directory, name);

test('discord e2e - a permission alert: Reject refuses it in opencode (the tool never runs) and says who', async () => {
  const file = `rejected-${randomUUID().slice(0, 8)}.txt`;
  const alert = await askPermission(file, undefined);
  const reject = buttonsOf(alert).find((c) => c.label === 'Reject')!;
  const { edited } = await d.clickAndWait(alert, reject.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000, message: 'alert edited with the result' });
  assert.match(text(alert), /✅ permission rejected — by otto/);
  assert.deepEqual(alert.components, []);
  await waitFor(async () => (await d.sessionView(session)).pending_permissions.length === 0, {
    timeoutMs: 30_000,
  });
  await waitFor(async () => (await d.sessionView(session)).state === 'idle', { timeoutMs: 30_000 });
  assert.equal(existsSync(projectFile(file)), false, 'the rejected command did not run');
  // Nothing scripted is left over for the next test.
  assert.equal(d.llm.pending(), 0);
});

test('discord e2e - a permission alert: Always approves it in opencode, the tool runs and the session continues', async () => {
  // Another session: the policy sends one permission alert per session and minute (collapse).
  d.llm.script({ text: 'Second session ready.' });
  const started = await d.slash(
    'start',
    { project: 'web', prompt: `always-${randomUUID()}` },
    d.users.operator,
  );
  const second = /`(ses_[^`]+)`/.exec(text(started))?.[1] ?? '';
  assert.ok(second, text(started));
  const file = `always-${randomUUID().slice(0, 8)}.txt`;
  const reply = `created ${randomUUID()}`;
  const alert = await askPermission(file, reply, second);
  const always = buttonsOf(alert).find((c) => c.label === 'Always')!;
  const { edited } = await d.clickAndWait(alert, always.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000, message: 'alert edited with the result' });
  assert.match(text(alert), /✅ permission approved \(always\) — by otto/);
  await waitFor(() => existsSync(projectFile(file)), { timeoutMs: 30_000, message: 'the tool ran' });
  await waitFor(
    () =>
      d.llm
        .chatRequests()
        .some((r) => r.allText.includes(file) && r.body.messages?.some((m) => m.role === 'tool')),
    {
      timeoutMs: 30_000,
      message: 'the LLM got the tool result: the session continued',
    },
  );
  const [record] = await waitFor(async () => {
    const r = (await auditOf('session.permission')).filter((x) => x.params?.response === 'always');
    return r.length > 0 ? r : undefined;
  });
  assert.deepEqual(record!.actor, { kind: 'discord', id: d.users.operator.id, name: 'otto' });
  assert.equal(record!.target.session, second);
  await waitFor(async () => (await d.sessionView(second)).state === 'idle', { timeoutMs: 30_000 });
});

test('discord e2e - a budget exceeded: a viewer cannot Kill (ephemeral, audited); the operator kills the busy turn in opencode', async () => {
  const slow = `budget-slow-${randomUUID()}`;
  d.llm.script({ text: 'spending on and on', delayMs: 45_000 });
  await d.slash('inject', { target: session, message: slow }, d.users.operator);
  await waitFor(
    async () => d.llm.chatRequests(slow).length === 1 && (await d.sessionView(session)).state === 'running',
    { timeoutMs: 60_000, intervalMs: 100, message: 'session running and waiting on the model' },
  );
  await budgetEvent('cost.budget_exceeded', 'web-session-cap');
  const alert = await budgetAlert('cost.budget_exceeded');
  assert.match(text(alert), /Budget exceeded: web-session-cap — \$1\.25 of \$1\.00/);
  const kill = buttonsOf(alert).find((c) => c.label === 'Kill')!;

  const denied = d.discord.clickButton({
    messageId: alert.id,
    customId: kill.custom_id,
    user: d.users.viewer,
  });
  await waitFor(() => d.discord.interaction(denied.id)?.originalId, { message: 'refusal sent' });
  const refusal = d.discord.message(d.discord.interaction(denied.id)!.originalId!)!;
  assert.equal(refusal.flags & EPHEMERAL, EPHEMERAL);
  assert.match(refusal.content, /session\.kill needs the operator role; vera is viewer/);
  const refused = await waitFor(async () =>
    (await auditOf('session.kill')).find((r) => r.actor.id === d.users.viewer.id),
  );
  assert.equal(refused.result.code, 'FORBIDDEN');
  assert.equal((await d.sessionView(session)).state, 'running', 'the refused click changed nothing');

  const { edited } = await d.clickAndWait(alert, kill.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000, message: 'alert edited with the result' });
  assert.match(text(alert), new RegExp(`✅ killed session \`${session}\` on alpha — by otto`));
  assert.deepEqual(alert.components, []);
  await waitFor(async () => (await d.sessionView(session)).state === 'killed', { timeoutMs: 15_000 });
  const dir = encodeURIComponent(d.opencode.projects[0]!.directory);
  const messages = (await (
    await fetch(`${d.opencode.url}/session/${session}/message?directory=${dir}`)
  ).json()) as Array<{ info: { role: string; error?: { name: string } } }>;
  assert.equal(
    messages.filter((m) => m.info.role === 'assistant').at(-1)?.info.error?.name,
    'MessageAbortedError',
  );
  const killed = (await auditOf('session.kill')).find((r) => r.actor.id === d.users.operator.id);
  assert.deepEqual(killed?.result, { ok: true });
  assert.equal(killed?.target.session, session);
});

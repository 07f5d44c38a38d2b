import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { waitFor } from '@hal/testkit';
import { buttonsOf, type DiscordFleet, startDiscordFleet, text } from './discord-harness.ts';

// /kill (with its confirmation), /resume and /restart on a real session (issue 11 acceptance).
let d: DiscordFleet;
let session = '';

before(async () => {
  d = await startDiscordFleet();
});

after(async () => {
  await d?.close();
});

test('discord e2e kill - /start opens the session to act on', async () => {
  d.llm.script({ text: 'Ready to be killed.' });
  const answer = await d.slash('start', { project: 'web', prompt: `kill-${randomUUID()}` }, d.users.operator);
  session = /`(ses_[^`]+)`/.exec(text(answer))?.[1] ?? '';
  assert.ok(session, text(answer));
  await waitFor(async () => (await d.sessionView(session))?.state === 'idle', { timeoutMs: 90_000 });
});

test('discord e2e - /kill then Cancel kills nothing: the confirmation says so and loses its buttons; nothing is audited', async () => {
  const kills = async () =>
    (await d.fleet.api<{ data: unknown[] }>('/api/v1/audit?action=session.kill&limit=50')).body.data.length;
  const before = await kills();
  const confirm = await d.slash('kill', { target: session }, d.users.operator);
  assert.match(text(confirm), /Kill web/);
  const cancel = buttonsOf(confirm).find((c) => c.label === 'Cancel')!;
  const { edited } = await d.clickAndWait(confirm, cancel.custom_id, d.users.operator);
  await waitFor(edited, { message: 'confirmation edited' });
  assert.match(text(confirm), /Kill cancelled/);
  assert.equal(confirm.components.length, 0, 'no button left to click');
  // Nothing happened, so nothing is audited (the trail records actions); the session lives on.
  assert.equal(await kills(), before);
  assert.equal((await d.sessionView(session)).state, 'idle');
  assert.equal(
    d.fleet.events.of((e) => e.session === session && e.type === 'session.error').length,
    0,
    'opencode aborted nothing',
  );
});

test('discord e2e - /kill asks to confirm; the click aborts the busy turn in opencode', async () => {
  const slow = `discord-slow-${randomUUID()}`;
  d.llm.script({ text: 'never finished', delayMs: 45_000 });
  await d.slash('inject', { target: session, message: slow }, d.users.operator);
  await waitFor(
    async () => d.llm.chatRequests(slow).length === 1 && (await d.sessionView(session)).state === 'running',
    {
      timeoutMs: 60_000,
      intervalMs: 100,
      message: 'session running and waiting on the model',
    },
  );
  const confirm = await d.slash('kill', { target: 'web' }, d.users.operator);
  assert.match(text(confirm), /Kill web/);
  const killButton = buttonsOf(confirm).find((c) => c.label === 'Kill')!;
  const { edited } = await d.clickAndWait(confirm, killButton.custom_id, d.users.operator);
  await waitFor(edited, { message: 'confirmation edited' });
  assert.match(text(confirm), /Killed.*by otto/);
  await waitFor(async () => (await d.sessionView(session)).state === 'killed', { timeoutMs: 15_000 });
  const dir = encodeURIComponent(d.opencode.projects[0]!.directory);
  const messages = (await (
    await fetch(`${d.opencode.url}/session/${session}/message?directory=${dir}`)
  ).json()) as Array<{
    info: { role: string; error?: { name: string } };
  }>;
  assert.equal(
    messages.filter((m) => m.info.role === 'assistant').at(-1)?.info.error?.name,
    'MessageAbortedError',
  );
});

test('discord e2e - /resume and /restart act on the named session', async () => {
  const before = d.llm.chatRequests().length;
  d.llm.script({ text: 'Resumed from Discord.' });
  assert.match(text(await d.slash('resume', { target: session }, d.users.operator)), /Resumed/);
  await waitFor(() => d.llm.chatRequests().length > before, {
    timeoutMs: 30_000,
    message: 'resume prompted the LLM',
  });
  await waitFor(async () => (await d.sessionView(session)).state === 'idle', { timeoutMs: 30_000 });
  // /restart is the hand-off: the answer names it at once; the old session answers the update
  // prompt, goes idle, and a new session continues from .context/.
  d.llm.script({ text: 'Context written from Discord.' }, { text: 'Restarted from Discord.' });
  const restarted = await d.slash('restart', { target: session }, d.users.operator);
  const handoff = new RegExp(`Restarting.*restart of .${session}. started as hand-off .(ho_\\w+).`).exec(
    text(restarted),
  )?.[1];
  assert.ok(handoff, text(restarted));
  const done = await waitFor(
    () => d.fleet.events.of((e) => e.session === session && e.type === 'handoff.completed')[0],
    { timeoutMs: 60_000, message: 'the hand-off completed' },
  );
  assert.equal(done.data.handoff_id, handoff);
  assert.equal(done.data.went_idle, true);
  assert.equal(d.llm.chatRequests('HAL hand-off').length, 1, 'the update prompt reached the old session');
  await waitFor(() => d.llm.chatRequests(`continues session ${session}`)[0], {
    timeoutMs: 60_000,
    message: "the new session's first prompt reached the LLM",
  });
  const audit = await d.fleet.api<{ data: Array<{ actor: { kind: string; id: string } }> }>(
    '/api/v1/audit?action=session.restart&limit=5',
  );
  assert.ok(
    audit.body.data.some((a) => a.actor.kind === 'discord' && a.actor.id === d.users.operator.id),
    JSON.stringify(audit.body.data),
  );
});

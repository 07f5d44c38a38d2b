import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import type { AuditRecord } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { type DiscordFleet, EPHEMERAL, startDiscordFleet, text } from './discord-harness.ts';
import { jsonOf } from './fleet-harness.ts';

// Slash commands and session threads on a real session (issue 11 acceptance).
let d: DiscordFleet;
let session = '';

before(async () => {
  d = await startDiscordFleet();
});

after(async () => {
  await d?.close();
});

test('discord e2e - /start reaches the LLM; the session gets a thread in #web with the reply', async () => {
  const prompt = `discord-start-${randomUUID()}`;
  d.llm.script({ text: 'Started from Discord: first reply.' });
  const answer = await d.slash('start', { project: 'web', prompt }, d.users.operator);
  assert.match(text(answer), /Session started/);
  session = /`(ses_[^`]+)`/.exec(text(answer))?.[1] ?? '';
  assert.ok(session, text(answer));
  // The first turn of a new session is the slowest (opencode also asks for a title).
  await waitFor(() => d.llm.chatRequests(prompt).length >= 1, {
    timeoutMs: 90_000,
    message: 'prompt reached the LLM',
  });
  assert.equal(
    d.llm.chatRequests(prompt).length,
    1,
    JSON.stringify(d.llm.requests.map((r) => [r.kind, r.lastUserText.slice(0, 60)])),
  );
  await waitFor(() => d.threadTexts().some((t) => t.startsWith('Started from Discord: first reply.')), {
    timeoutMs: 60_000,
    message: 'assistant reply in the thread',
  });
  assert.match(d.threadTexts().find((t) => t.startsWith('Started'))!, new RegExp(`session \`${session}\``));
  assert.match(d.threadOf()!.name, /^web · /);
});

test('discord e2e - a message written in the session thread reaches the LLM; the reply appears in the thread', async () => {
  const words = `thread-message-${randomUUID()}`;
  d.llm.script({ text: 'Answer to the thread message.' });
  d.discord.postMessage({ channelId: d.threadOf()!.id, content: words, user: d.users.operator });
  await waitFor(() => d.llm.chatRequests(words).length >= 1, {
    timeoutMs: 30_000,
    message: 'thread text reached the LLM',
  });
  assert.equal(
    d.llm.chatRequests(words).length,
    1,
    JSON.stringify(d.llm.requests.map((r) => [r.kind, r.lastUserText.slice(0, 60)])),
  );
  await waitFor(() => d.threadTexts().some((t) => t.startsWith('Answer to the thread message.')), {
    timeoutMs: 30_000,
    message: 'reply in the thread',
  });
  // A viewer's words are refused, said so in the thread, and never reach the LLM.
  const refused = `viewer-words-${randomUUID()}`;
  d.discord.postMessage({ channelId: d.threadOf()!.id, content: refused, user: d.users.viewer });
  await waitFor(() => d.threadTexts().some((t) => /FORBIDDEN/.test(t)), { message: 'refusal in the thread' });
  assert.equal(d.llm.chatRequests(refused).length, 0);
});

test('discord e2e - /status /session /sessions /nodes /logs answer as embeds; autocomplete offers projects and sessions', async () => {
  await waitFor(async () => (await d.sessionView(session)).state === 'idle', { timeoutMs: 20_000 });
  assert.match(text(await d.slash('status', {}, d.users.viewer)), /Nodes online.*1 of 1/);
  assert.match(text(await d.slash('status', { target: 'web' }, d.users.viewer)), new RegExp(session));
  assert.match(
    text(await d.slash('session', { target: session }, d.users.viewer)),
    /"name":"State","value":"idle"/,
  );
  assert.match(text(await d.slash('sessions', { project: 'web' }, d.users.viewer)), new RegExp(session));
  assert.match(text(await d.slash('nodes', {}, d.users.viewer)), /alpha.*web/);
  assert.match(
    text(await d.slash('logs', { target: 'web' }, d.users.viewer)),
    /Answer to the thread message/,
  );
  const ac = d.discord.autocomplete({ name: 'kill', focused: 'target', value: 'we', user: d.users.operator });
  const choices = await waitFor(() => d.discord.interaction(ac.id)?.choices);
  assert.deepEqual(
    choices.map((c) => c.value),
    ['web'],
  );
  const all = d.discord.autocomplete({
    name: 'resume',
    focused: 'target',
    value: '',
    user: d.users.operator,
  });
  const allChoices = await waitFor(() => d.discord.interaction(all.id)?.choices);
  assert.ok(allChoices.some((c) => c.value === session));
});

test('discord e2e - /inject by project name reaches the LLM', async () => {
  const words = `discord-inject-${randomUUID()}`;
  d.llm.script({ text: 'Injected from Discord.' });
  assert.match(
    text(await d.slash('inject', { target: 'web', message: words }, d.users.operator)),
    /Prompt sent/,
  );
  await waitFor(() => d.llm.chatRequests(words).length === 1, { timeoutMs: 30_000 });
  await waitFor(async () => (await d.sessionView(session)).state === 'idle', { timeoutMs: 30_000 });
});

test('discord e2e - someone without the operator role cannot kill: ephemeral refusal, audited, in halctl audit list', async () => {
  const answer = await d.slash('kill', { target: 'web' }, d.users.stranger);
  assert.equal(answer.flags & EPHEMERAL, EPHEMERAL);
  assert.match(
    answer.content,
    /^🚫 session\.kill needs the operator role; sam is not a HAL viewer, operator or admin/,
  );
  assert.equal((await d.sessionView(session)).state, 'idle');
  const actor = `discord:${d.users.stranger.id}`;
  const listed = await waitFor(
    async () => {
      const r = jsonOf<AuditRecord[]>(await d.fleet.halctl(['audit', 'list', '--actor', actor, '--json']));
      return r.length > 0 ? r : undefined;
    },
    { message: 'refusal in halctl audit list' },
  );
  assert.deepEqual(listed[0]?.actor, { kind: 'discord', id: d.users.stranger.id, name: 'sam' });
  assert.equal(listed[0]?.action, 'session.kill');
  assert.equal(listed[0]?.result.code, 'FORBIDDEN');
  assert.equal(listed[0]?.source, 'discord');
  const table = await d.fleet.halctl(['audit', 'list', '--actor', actor]);
  assert.match(table.stdout, new RegExp(`${actor}\\s+session\\.kill\\s.*failed FORBIDDEN`));
});

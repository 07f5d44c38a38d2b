import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { jetstreamClient, publishEvent } from '@hal/bus';
import { waitFor } from '@hal/testkit';
import { buttonsOf, type DiscordFleet, EPHEMERAL, startDiscordFleet, text } from './discord-harness.ts';

// Alerts with buttons, roles on policies, the flood collapse and the daily report (issue 11 acceptance).
let d: DiscordFleet;
let session = '';

before(async () => {
  d = await startDiscordFleet();
});

after(async () => {
  await d?.close();
});

test('discord e2e alerts - /start opens a session to raise alerts on', async () => {
  d.llm.script({ text: 'Ready for alerts.' });
  const answer = await d.slash(
    'start',
    { project: 'web', prompt: `alerts-${randomUUID()}` },
    d.users.operator,
  );
  session = /`(ses_[^`]+)`/.exec(text(answer))?.[1] ?? '';
  assert.ok(session, text(answer));
  await waitFor(async () => (await d.sessionView(session))?.state === 'idle', { timeoutMs: 90_000 });
});

test('discord e2e - a permission alert: Approve once answers it in opencode and the session continues', async () => {
  await waitFor(async () => (await d.sessionView(session)).state !== 'running', { timeoutMs: 30_000 });
  const done = `tool done ${randomUUID()}`;
  d.llm.script(
    { toolCall: { name: 'bash', arguments: { command: 'echo hi > out.txt', description: 'write a file' } } },
    { text: done },
  );
  await d.slash('inject', { target: session, message: 'write out.txt' }, d.users.operator);
  const alert = await waitFor(
    () =>
      d.discord
        .messages(d.discord.channelId('alerts'))
        .find(
          (m) => /Permission requested/.test(text(m)) && text(m).includes(session) && m.components.length > 0,
        ),
    { timeoutMs: 30_000, message: 'permission alert with buttons' },
  );
  const labels = buttonsOf(alert).map((c) => c.label);
  assert.deepEqual(labels, ['Approve once', 'Always', 'Reject']);
  const approve = buttonsOf(alert)[0]!;
  // A viewer's click changes nothing: refused, ephemeral.
  const denied = d.discord.clickButton({
    messageId: alert.id,
    customId: approve.custom_id,
    user: d.users.viewer,
  });
  await waitFor(() => d.discord.interaction(denied.id)?.originalId);
  assert.equal(
    d.discord.message(d.discord.interaction(denied.id)!.originalId!)!.flags & EPHEMERAL,
    EPHEMERAL,
  );
  const { edited } = await d.clickAndWait(alert, approve.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000, message: 'alert edited with the result' });
  assert.match(text(alert), /✅ permission approved \(once\) — by otto/);
  assert.deepEqual(alert.components, []);
  await waitFor(
    () =>
      d.llm
        .chatRequests()
        .some((r) => r.allText.includes('hi') && r.body.messages?.some((m) => m.role === 'tool')),
    {
      timeoutMs: 30_000,
      message: 'the tool ran and the LLM got its result',
    },
  );
  await waitFor(() => d.threadTexts().some((t) => t.startsWith(done)), {
    timeoutMs: 30_000,
    message: 'session continued',
  });
});

test('discord e2e - /deny rejects the pending permission; /approve with none pending says so', async () => {
  await waitFor(async () => (await d.sessionView(session)).state === 'idle', { timeoutMs: 30_000 });
  d.llm.script(
    { toolCall: { name: 'bash', arguments: { command: 'rm -rf build', description: 'clean' } } },
    { text: 'Understood, not cleaning.' },
  );
  await d.slash('inject', { target: session, message: 'clean the build' }, d.users.operator);
  await waitFor(async () => (await d.sessionView(session)).pending_permissions.length === 1, {
    timeoutMs: 30_000,
  });
  assert.match(text(await d.slash('deny', { target: session }, d.users.operator)), /Permission rejected/);
  await waitFor(async () => (await d.sessionView(session)).pending_permissions.length === 0, {
    timeoutMs: 30_000,
  });
  await waitFor(
    async () =>
      (await d.sessionView(session)).state !== 'running' &&
      (await d.sessionView(session)).state !== 'waiting_input',
    { timeoutMs: 30_000 },
  );
  assert.match(text(await d.slash('approve', { target: session }, d.users.operator)), /PERMISSION_NOT_FOUND/);
});

test('discord e2e - an idle alert in #dev-log: Resume runs and the alert says who', async () => {
  const idle = await waitFor(
    () =>
      d.discord
        .messages(d.discord.channelId('dev-log'))
        .filter(
          (m) => text(m).includes('session.idle') && text(m).includes(session) && m.components.length > 0,
        )
        .at(-1),
    { timeoutMs: 30_000, message: 'idle alert with buttons' },
  );
  const labels = buttonsOf(idle).map((c) => c.label);
  assert.deepEqual(labels, ['Resume', 'Restart', 'Kill']);
  const before = d.llm.chatRequests().length;
  d.llm.script({ text: 'Resumed by button.' });
  const resume = buttonsOf(idle)[0]!;
  const { edited } = await d.clickAndWait(idle, resume.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000 });
  assert.match(text(idle), /✅ resumed session .* — by otto/);
  await waitFor(() => d.llm.chatRequests().length > before, {
    timeoutMs: 30_000,
    message: 'resume reached the LLM',
  });
});

test('discord e2e - /policies for viewers; /policy needs admin (refusal audited), an admin enables it', async () => {
  assert.match(text(await d.slash('policies', {}, d.users.viewer)), /resume_on_idle/);
  const refused = await d.slash('policy', { name: 'resume_on_idle', action: 'enable' }, d.users.operator);
  assert.match(refused.content, /policy\.enable needs the admin role/);
  const ok = await d.slash('policy', { name: 'resume_on_idle', action: 'disable' }, d.users.admin);
  assert.match(text(ok), /Policy resume_on_idle disabled/);
  assert.match(
    text(await d.slash('cost', { period: 'today', by: 'project' }, d.users.viewer)),
    /Cost today by project/,
  );
  assert.match(text(await d.slash('budgets', {}, d.users.viewer)), /Budgets/);
});

test('discord e2e - 200 identical errors give one alert', async () => {
  const js = jetstreamClient(d.fleet.nc);
  const before = d.discord
    .messages(d.discord.channelId('alerts'))
    .filter((m) => text(m).includes('FloodError')).length;
  assert.equal(before, 0);
  for (let i = 0; i < 200; i++) {
    await publishEvent(js, {
      version: 1,
      id: randomUUID(),
      seq: 1_000_000 + i,
      node: 'alpha',
      project: 'web',
      session,
      type: 'session.error',
      time: new Date().toISOString(),
      data: { kind: 'FloodError', message: 'the same error again' },
    });
  }
  // Wait until the policy service has read all 200 (its consumer has nothing pending), then a
  // little for a second alert that must not come.
  const jsm = await js.jetstreamManager();
  await waitFor(
    async () => {
      const info = await jsm.consumers.info('HAL_EVENTS', 'hal-policy');
      return info.num_pending === 0 && info.num_ack_pending === 0;
    },
    { timeoutMs: 60_000, message: 'policy consumed the flood' },
  );
  const notified = await waitFor(
    () =>
      d.fleet.notifications.of((n) => n.kind === 'session.error' && n.body.includes('the same error again')),
    { message: 'the notification' },
  );
  assert.equal(notified.length, 1);
  await waitFor(
    () => d.discord.messages(d.discord.channelId('alerts')).some((m) => text(m).includes('FloodError')),
    {
      message: 'alert posted',
    },
  );
  const bridgeInfo = await waitFor(async () => {
    const info = await jsm.consumers.info('HAL_NOTIFY', 'hal-discord-bridge');
    return info.num_pending === 0 && info.num_ack_pending === 0 ? info : undefined;
  });
  assert.ok(bridgeInfo);
  // Exactly one alert for the 200 errors themselves. The error_loop policy (on by default) may
  // raise its own, different alert about the loop — once, whatever the count.
  const flood = d.discord
    .messages(d.discord.channelId('alerts'))
    .filter((m) => text(m).includes('FloodError'));
  const kinds = flood.map(
    (m) => String((m.embeds[0]?.footer as { text?: string } | undefined)?.text).split(' · ')[0],
  );
  assert.equal(kinds.filter((k) => k === 'session.error').length, 1, JSON.stringify(kinds));
  assert.ok(
    kinds.filter((k) => k !== 'session.error').every((k) => k === 'policy.error_loop'),
    JSON.stringify(kinds),
  );
  assert.ok(kinds.length <= 2, JSON.stringify(kinds));
});

test('discord e2e - the daily cost report for yesterday is posted once, at the configured hour', async () => {
  const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  const reports = () =>
    d.discord
      .messages(d.discord.channelId('reports'))
      .filter((m) => text(m).includes(`Cost report for ${yesterday}`));
  const report = await waitFor(() => reports()[0], { timeoutMs: 90_000, message: 'daily report posted' });
  assert.match(text(report), /Observed.*Billed.*Budgets near their limit.*Forecast/);
  assert.equal(reports().length, 1);
});

test('discord e2e - an error alert: Restart hands the session off (update prompt, idle, new session) and the alert says who', async () => {
  // A session of its own: the hand-off ends it, and the tests above keep theirs.
  d.llm.script({ text: 'Ready to be restarted.' });
  const answer = await d.slash(
    'start',
    { project: 'web', prompt: `restart-${randomUUID()}` },
    d.users.operator,
  );
  const victim = /`(ses_[^`]+)`/.exec(text(answer))?.[1] ?? '';
  assert.ok(victim, text(answer));
  await waitFor(async () => (await d.sessionView(victim))?.state === 'idle', { timeoutMs: 90_000 });
  await publishEvent(jetstreamClient(d.fleet.nc), {
    version: 1,
    id: randomUUID(),
    seq: 2_000_000,
    node: 'alpha',
    project: 'web',
    session: victim,
    type: 'session.error',
    time: new Date().toISOString(),
    data: { kind: 'RestartMeError', message: 'the provider went away' },
  });
  const alert = await waitFor(
    () =>
      d.discord
        .messages(d.discord.channelId('alerts'))
        .filter((m) => text(m).includes('RestartMeError') && m.components.length > 0)
        .at(-1),
    { timeoutMs: 30_000, message: 'error alert with buttons' },
  );
  assert.deepEqual(
    buttonsOf(alert).map((c) => c.label),
    ['Resume', 'Restart', 'Kill'],
  );
  d.llm.script({ text: 'Context written from the button.' }, { text: 'Restarted from the button.' });
  const restart = buttonsOf(alert).find((c) => c.label === 'Restart')!;
  const { edited } = await d.clickAndWait(alert, restart.custom_id, d.users.operator);
  await waitFor(edited, { timeoutMs: 20_000 });
  assert.match(text(alert), new RegExp(`✅ restart of .${victim}. started as hand-off .ho_\\w+.*— by otto`));
  const done = await waitFor(
    () => d.fleet.events.of((e) => e.session === victim && e.type === 'handoff.completed')[0],
    { timeoutMs: 60_000, message: 'the hand-off completed' },
  );
  assert.equal(done.data.went_idle, true);
  await waitFor(() => d.llm.chatRequests(`continues session ${victim}`)[0], {
    timeoutMs: 60_000,
    message: "the new session's first prompt reached the LLM",
  });
});

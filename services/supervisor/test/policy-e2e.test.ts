import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { EventRecord, Notification, PolicyActionData, SessionView } from '@hal/protocol';
import {
  type OpencodeServer,
  type ScriptedLlm,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import { type Fleet, jsonOf, startAgent, startFleet, type TestAgent } from './fleet-harness.ts';

// Issue 7's reference scenario on the real stack: the supervisor (policy engine included) on a
// nats-server, one real agent on a real opencode, a scripted LLM. The policy ticks every 250 ms
// (the production default is 5 s); everything else is the shipped configuration path.
const RESUME = `RESUME-PROMPT-${crypto.randomUUID()}`;
const MAX_RETRIES = 2;
let llm: ScriptedLlm;
let opencode: OpencodeServer;
let fleet: Fleet;
let agent: TestAgent | undefined;

before(async () => {
  llm = await startScriptedLlm({ titleText: 'Policy title' });
  fleet = await startFleet({
    policyTickMs: 250,
    policies: {
      resume_on_idle: {
        enabled: true,
        idle_threshold_seconds: 1,
        max_retries: MAX_RETRIES,
        // A failed resume is tried again after this; the cap still counts it.
        cooldown_seconds: 1,
        prompt: RESUME,
      },
    },
  });
  // opencode and the supervisor start side by side: neither needs the other before the agent connects.
  await Promise.all([
    startOpencode({ llm, projects: [{ name: 'app' }] }).then((o) => {
      opencode = o;
    }),
    fleet.startSupervisor(),
  ]);
  agent = await startAgent({
    node: 'solo',
    supervisorUrl: fleet.wsUrl,
    opencodeUrl: opencode.url,
    projects: opencode.projects,
  });
});

after(async () => {
  await agent?.stop();
  await fleet?.close();
  await opencode?.stop();
  await llm?.stop();
});

const decisionsFor = (session: string): PolicyActionData[] =>
  fleet.events
    .of((e) => e.type === 'policy.action' && e.session === session)
    .map((e) => e.data as unknown as PolicyActionData)
    .filter((d) => d.policy === 'resume_on_idle');

const alertsFor = (session: string): Notification[] =>
  fleet.notifications.of((n, subject) => subject === 'hal.notify.discord.alerts' && n.session === session);

async function sessionView(id: string): Promise<SessionView> {
  const r = await fleet.api<{ data: SessionView }>(`/api/v1/sessions/${encodeURIComponent(id)}`);
  if (r.status !== 200) throw new Error(`GET session ${id}: ${r.status}`);
  return r.body.data;
}

async function startSession(prompt: string): Promise<string> {
  const started = jsonOf<{ session: string }>(
    await fleet.halctl([
      'sessions',
      'start',
      '--project',
      'app',
      '--node',
      'solo',
      '--prompt',
      prompt,
      '--json',
    ]),
  );
  return started.session;
}

test('policy e2e - an idle session is resumed through opencode, runs again within 3 s, and the decision is stored', async () => {
  const task = `policy task ${crypto.randomUUID()}`;
  // The first reply ends the turn at once; the resumed turn is slow so "running" is observable.
  llm.script({ text: 'First turn done.' }, { text: 'Resumed turn done.', delayMs: 2_000 });
  const session = await startSession(task);
  const idle = await waitFor(
    () => fleet.events.of((e) => e.session === session && e.type === 'session.idle')[0],
    { timeoutMs: 30_000, message: 'the first turn ends idle' },
  );

  const acted = await waitFor(
    () =>
      fleet.events.of(
        (e) =>
          e.type === 'policy.action' &&
          e.session === session &&
          (e.data as unknown as PolicyActionData).decision === 'acted',
      )[0],
    { timeoutMs: 10_000, intervalMs: 10, message: 'resume_on_idle acted on the idle session' },
  );
  const seenAt = Date.now();
  const data = acted.data as unknown as PolicyActionData;
  assert.equal(data.policy, 'resume_on_idle');
  assert.deepEqual(data.command, { type: 'resume', session, prompt: RESUME });
  assert.deepEqual(data.result, { ok: true, data: { session, resumed: true } });
  assert.match(data.reason, /^idle for \d+ s \(threshold 1 s\)$/);
  assert.equal(acted.node, 'solo');
  assert.equal(acted.project, 'app');
  // Not before the threshold: the session had been idle at least 1 s when it was resumed.
  assert.ok(Date.parse(acted.time) - Date.parse(idle.time) >= 1000, `${idle.time} → ${acted.time}`);

  // Running again within 3 s of the resume, as the API shows it.
  await waitFor(async () => (await sessionView(session)).state === 'running', {
    timeoutMs: 3_000,
    intervalMs: 50,
    message: 'the session is running again within 3 s of the resume',
  });
  assert.ok(Date.now() - seenAt <= 3_000);
  const busy = fleet.events.of(
    (e) => e.session === session && e.type === 'session.busy' && Date.parse(e.time) > Date.parse(idle.time),
  )[0];
  assert.ok(busy !== undefined, 'session.busy after the resume is in HAL_EVENTS');
  assert.ok(
    Math.abs(Date.parse(busy.time) - Date.parse(acted.time)) <= 3_000,
    `${acted.time} / ${busy.time}`,
  );

  // The resume prompt reached the model through opencode, in this session's conversation.
  const resumed = await waitFor(() => llm.chatRequests(RESUME).find((r) => r.allText.includes(task)), {
    timeoutMs: 5_000,
    message: 'the resume prompt reached the LLM',
  });
  assert.equal(resumed.lastUserText, RESUME);
  assert.ok(resumed.allText.includes('First turn done.'), 'opencode sent the conversation so far');

  // Stored: readable from the API's event index as well as from the stream.
  const listed = await waitFor(
    async () => {
      const r = await fleet.api<{ data: EventRecord[] }>(
        `/api/v1/events?type=policy.action&session=${encodeURIComponent(session)}`,
      );
      return r.body.data.find((e) => e.id === acted.id);
    },
    { timeoutMs: 10_000, message: 'GET /api/v1/events?type=policy.action lists the decision' },
  );
  assert.deepEqual(listed.data, acted.data);

  // The session keeps stopping: the second resume is the last; then it is capped with one alert.
  const capped = await waitFor(() => decisionsFor(session).find((d) => d.decision === 'skipped'), {
    timeoutMs: 60_000,
    message: 'the retry cap is reached after the resumed turns end idle',
  });
  const decisions = decisionsFor(session);
  assert.deepEqual(
    decisions.map((d) => d.decision),
    ['acted', 'acted', 'skipped'],
  );
  assert.equal(llm.chatRequests(RESUME).filter((r) => r.allText.includes(task)).length, MAX_RETRIES);
  assert.equal(capped.severity, 'critical');
  assert.equal(capped.alert, 'Session keeps stopping');
  assert.match(capped.reason, /^retry cap reached: 2 resumes within 3600 s; blocked until /);
  await waitFor(() => alertsFor(session).length > 0, { timeoutMs: 10_000, message: 'the cap alert' });
});

test('policy e2e - a resume that keeps failing is tried exactly 2 times, then blocked with one alert', async () => {
  // Policy off while the session gets idle and opencode goes away, so every resume fails.
  const off = await fleet.api('/api/v1/policies/resume_on_idle/disable', {});
  assert.equal(off.status, 200, JSON.stringify(off.body));
  llm.script({ text: 'Done, nothing more to do.' });
  const session = await startSession(`failing task ${crypto.randomUUID()}`);
  await waitFor(async () => (await sessionView(session)).state === 'idle', {
    timeoutMs: 30_000,
    intervalMs: 100,
    message: 'the session is idle',
  });
  opencode.kill('SIGKILL');
  // The agent stays connected (the node is online, so the policy does not skip it) but can no
  // longer reach opencode, and says so.
  await waitFor(() => fleet.events.of((e) => e.node === 'solo' && e.type === 'agent.opencode_down')[0], {
    timeoutMs: 15_000,
    message: 'the agent reports opencode down',
  });
  const node = await fleet.api<{ data: { status: string } }>('/api/v1/nodes/solo');
  assert.equal(node.body.data.status, 'online');
  const resumesBefore = llm.chatRequests(RESUME).length;

  const on = await fleet.api('/api/v1/policies/resume_on_idle/enable', {});
  assert.equal(on.status, 200, JSON.stringify(on.body));
  const capped = await waitFor(() => decisionsFor(session).find((d) => d.decision === 'skipped'), {
    timeoutMs: 60_000,
    message: 'the retry cap after failed resumes',
  });
  const decisions = decisionsFor(session);
  assert.deepEqual(
    decisions.map((d) => d.decision),
    ['failed', 'failed', 'skipped'],
  );
  for (const d of decisions.slice(0, 2)) {
    assert.deepEqual(d.command, { type: 'resume', session, prompt: RESUME });
    assert.equal(d.result?.ok, false);
    assert.equal(d.result?.code, 'OPENCODE_UNREACHABLE');
    assert.match(d.reason, /; the command failed: OPENCODE_UNREACHABLE$/);
  }
  assert.equal(capped.severity, 'critical');
  assert.equal(capped.alert, 'Session keeps stopping');
  assert.match(capped.reason, /^retry cap reached: 2 resumes within 3600 s; blocked until /);
  const until = Date.parse(capped.reason.replace(/^.*blocked until /, ''));
  assert.ok(until - Date.now() > 3_500_000, 'blocked until the reset window (1 h) ends');
  assert.equal(llm.chatRequests(RESUME).length, resumesBefore, 'no failed resume reached the model');

  const alert = await waitFor(() => alertsFor(session)[0], { timeoutMs: 10_000, message: 'one alert' });
  assert.equal(alert.kind, 'policy.resume_on_idle');
  assert.equal(alert.severity, 'critical');
  assert.equal(alert.node, 'solo');

  // Blocked: many more ticks (cooldown 1 s) bring no third attempt and no second alert.
  await assert.rejects(
    waitFor(() => decisionsFor(session).length > 3 || alertsFor(session).length > 1, {
      timeoutMs: 3_000,
      intervalMs: 100,
    }),
    /waitFor timed out/,
  );
  assert.equal(alertsFor(session).length, 1);
});

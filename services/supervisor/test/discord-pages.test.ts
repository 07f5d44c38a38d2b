import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { jetstreamClient, publishEvent } from '@hal/bus';
import { type EventRecord, subjects } from '@hal/protocol';
import {
  type DiscordTestUser,
  type FakeDiscord,
  type FakeDiscordMessage,
  startFakeDiscord,
  waitFor,
} from '@hal/testkit';
import { type Fleet, startFleet } from './fleet-harness.ts';

// Long answers and ambiguous targets, on the real supervisor (tracker projecting HAL_EVENTS) with
// the bridge against the fake Discord: 60 sessions of a project are more than one embed holds, so
// /sessions pages with buttons; two of them busy make "/kill web" ambiguous, so the operator gets an
// ephemeral list to pick from. No agent is needed: the sessions are events, as agents send them.
let discord: FakeDiscord;
let fleet: Fleet;
let operator: DiscordTestUser;
let beating: NodeJS.Timeout | undefined;

const LOADING = 128;
const EPHEMERAL = 64;

function event(session: string, type: string, seq: number, data: Record<string, unknown> = {}): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq,
    node: 'alpha',
    project: 'web',
    session,
    type,
    // Older than the policy's notification age limit (10 min): the sessions exist, but the 120
    // events raise no alerts, so nothing but the commands under test keeps the bot busy.
    time: new Date(Date.now() - 15 * 60_000 + seq).toISOString(),
    data,
  };
}

before(async () => {
  discord = await startFakeDiscord({ guild: { channels: [{ name: 'alerts' }], roles: [{ name: 'op' }] } });
  operator = discord.user('otto', [discord.roleId('op')]);
  fleet = await startFleet({
    discord: {
      bot_token: discord.token,
      guild_id: discord.guildId,
      channels: { alerts: discord.channelId('alerts'), 'dev-log': discord.channelId('alerts') },
      roles: { operator: discord.roleId('op') },
      api_url: discord.apiUrl,
    },
  });
  await fleet.startSupervisor();
  // Node alpha beats as its gateway would publish it, so the tracker keeps its sessions reachable.
  const beat = () =>
    fleet.nc.publish(
      subjects.heartbeat('alpha'),
      JSON.stringify({
        version: 1,
        node: 'alpha',
        gateway: 'test-gateway',
        time: new Date().toISOString(),
        load: [0.1],
        mem_total_bytes: 1,
        mem_free_bytes: 1,
        opencode_ok: true,
        sessions: 60,
        spool_depth: 0,
      }),
    );
  beat();
  beating = setInterval(beat, 500);
  const js = jetstreamClient(fleet.nc);
  let seq = 0;
  for (let i = 0; i < 60; i++) {
    const s = `ses_page_${String(i).padStart(2, '0')}_${'x'.repeat(40)}`;
    await publishEvent(js, event(s, 'session.created', ++seq, { title: `session number ${i}` }));
    await publishEvent(js, event(s, i < 2 ? 'session.busy' : 'session.idle', ++seq));
  }
  await waitFor(
    async () => {
      const r = await fleet.api<{ meta: { total: number } }>('/api/v1/sessions?project=web&limit=1');
      return r.body.meta.total === 60;
    },
    { message: 'tracker projected the 60 sessions' },
  );
  await waitFor(() => discord.readySockets() === 1 && discord.commands().length > 0, {
    message: 'bot ready',
  });
});

after(async () => {
  clearInterval(beating);
  await fleet?.close();
  await discord?.stop();
});

function answerOf(id: string): FakeDiscordMessage | undefined {
  const i = discord.interaction(id);
  const m = i?.originalId === undefined ? undefined : discord.message(i.originalId);
  if (m && (m.flags & LOADING) === 0) return m;
  return i?.followups.map((f) => discord.message(f)).find((x) => x !== undefined);
}

const buttons = (m: FakeDiscordMessage) =>
  m.components.flatMap(
    (r) => (r.components ?? []) as Array<{ label: string; custom_id: string; disabled?: boolean }>,
  );

test('discord pages - a list longer than an embed is paged; ▶ shows the next page in place', async () => {
  const sent = discord.runCommand({ name: 'sessions', options: { project: 'web' }, user: operator });
  const first = await waitFor(() => answerOf(sent.id), { message: '/sessions answered' });
  const footer = () => String((first.embeds[0]?.footer as { text?: string } | undefined)?.text);
  const pages = Number(/page 1 of (\d+)/.exec(footer())?.[1]);
  assert.ok(pages >= 2, footer());
  assert.ok(String(first.embeds[0]?.description).length <= 4096);
  const [prev, next] = buttons(first);
  assert.equal(prev?.disabled, true);
  const firstText = String(first.embeds[0]?.description);
  const click = discord.clickButton({ messageId: first.id, customId: next!.custom_id, user: operator });
  await waitFor(() => /page 2 of/.test(footer()), { message: 'page 2 shown' });
  assert.equal(discord.interaction(click.id)?.callback?.type, 6, 'a deferred update of the same message');
  assert.notEqual(String(first.embeds[0]?.description), firstText);
  assert.match(String(first.embeds[0]?.title), /Sessions \(60\)/);
});

test('discord pages - a project with two busy sessions is ambiguous: an ephemeral list to pick from', async () => {
  const sent = discord.runCommand({ name: 'resume', options: { target: 'web' }, user: operator });
  const list = await waitFor(
    () => {
      const m = answerOf(sent.id);
      return m && (m.flags & EPHEMERAL) !== 0 ? m : undefined;
    },
    { message: 'ephemeral pick list' },
  ).catch((err: unknown) => {
    const i = discord.interaction(sent.id);
    const calls = discord.calls.filter((c) => c.path.includes(sent.id) || (i && c.path.includes(i.token)));
    throw new Error(
      `${(err as Error).message}: ${JSON.stringify({ i, calls: calls.map((c) => [c.method, c.status, c.response]), answer: answerOf(sent.id) })}`,
    );
  });
  assert.match(list.content, /project "web" has 2 busy sessions/);
  const labels = buttons(list).map((b) => b.label);
  assert.equal(labels.length, 2);
  assert.ok(
    labels.every((l) => /^ses_page_0[01]_x+/.test(l) && l.length <= 80),
    JSON.stringify(labels),
  );
  // Picking one acts on that session: no gateway holds node alpha's socket here (its beats are
  // the test's), so the command finds no responder and the answer is NODE_OFFLINE.
  const pick = discord.clickButton({
    messageId: list.id,
    customId: buttons(list)[0]!.custom_id,
    user: operator,
  });
  const reply = await waitFor(() => {
    const i = discord.interaction(pick.id);
    return i?.followups.map((f) => discord.message(f)).find((x) => x !== undefined);
  });
  assert.match(reply.content, /NODE_OFFLINE/);
});

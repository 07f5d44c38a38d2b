import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ActionRowBuilder,
  ButtonBuilder,
  ButtonStyle,
  ChannelType,
  Client,
  DiscordAPIError,
  Events,
  GatewayIntentBits,
  type Interaction,
  type Message,
  MessageFlags,
  type TextChannel,
} from 'discord.js';
import { type FakeDiscord, startFakeDiscord, waitFor } from '../src/index.ts';

// The fake is only worth something if discord.js itself accepts it: every test drives the real
// discord.js 14 client (REST queue, gateway shard, interaction objects) against it.
let discord: FakeDiscord;
let client: Client;
const interactions: Interaction[] = [];
const userMessages: Message[] = [];

before(async () => {
  discord = await startFakeDiscord({
    guild: { channels: [{ name: 'alerts' }, { name: 'web' }], roles: [{ name: 'operator' }] },
    heartbeatIntervalMs: 1_000,
  });
  client = new Client({
    intents: [GatewayIntentBits.Guilds, GatewayIntentBits.GuildMessages, GatewayIntentBits.MessageContent],
    rest: { api: discord.apiUrl },
  });
  client.on(Events.InteractionCreate, (i) => interactions.push(i));
  client.on(Events.MessageCreate, (m) => {
    if (!m.author.bot) userMessages.push(m);
  });
  const ready = new Promise((r) => client.once(Events.ClientReady, r));
  await client.login(discord.token);
  await ready;
});

after(async () => {
  await client?.destroy();
  await discord?.stop();
});

const alerts = () => client.channels.cache.get(discord.channelId('alerts')) as TextChannel;
const nextInteraction = (id: string) => waitFor(() => interactions.find((i) => i.id === id));

test('fake discord - discord.js logs in: /gateway/bot, identify, READY and GUILD_CREATE fill the cache', () => {
  assert.equal(client.user?.id, discord.bot.id);
  const guild = client.guilds.cache.get(discord.guildId);
  assert.ok(guild, 'guild in cache');
  assert.equal(guild.channels.cache.get(discord.channelId('web'))?.name, 'web');
  assert.equal(guild.roles.cache.get(discord.roleId('operator'))?.name, 'operator');
  assert.ok(discord.calls.some((c) => c.method === 'GET' && c.path === '/gateway/bot' && c.status === 200));
  assert.equal(discord.identifies(), 1);
});

test('fake discord - a wrong bot token is refused on REST (401) and the gateway (4004)', async () => {
  const bad = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: discord.apiUrl } });
  await assert.rejects(bad.login('not-the-token'), /401|Unauthorized|invalid/i);
  await bad.destroy();
});

test('fake discord - guild commands are bulk-overwritten; a slash command is deferred, then edited', async () => {
  const cmds = [
    { name: 'status', description: 'Fleet status', options: [{ type: 3, name: 'target', description: 't' }] },
    {
      name: 'kill',
      description: 'Kill',
      options: [{ type: 3, name: 'target', description: 't', required: true }],
    },
  ];
  const first = await client.application!.commands.set(cmds, discord.guildId);
  const again = await client.application!.commands.set(cmds, discord.guildId);
  assert.deepEqual(
    [...again.values()].map((c) => c.id),
    [...first.values()].map((c) => c.id),
    'same ids when overwritten with the same names',
  );
  assert.deepEqual(
    discord.commands().map((c) => c.name),
    ['status', 'kill'],
  );

  const user = discord.user('ada', [discord.roleId('operator')]);
  const sent = discord.runCommand({ name: 'status', options: { target: 'web' }, user });
  const i = await nextInteraction(sent.id);
  assert.ok(i.isChatInputCommand());
  assert.equal(i.options.getString('target'), 'web');
  assert.equal(i.user.id, user.id);
  assert.ok(i.inCachedGuild() && i.member.roles.cache.has(discord.roleId('operator')));
  await i.deferReply({ flags: MessageFlags.Ephemeral });
  const deferred = discord.message(discord.interaction(sent.id)!.originalId!);
  assert.ok(deferred && (deferred.flags & 128) !== 0 && (deferred.flags & 64) !== 0, 'loading + ephemeral');
  await i.editReply({ content: 'all good' });
  assert.equal(deferred.content, 'all good');
  assert.equal(deferred.flags & 128, 0, 'no longer loading');
  await i.followUp({ content: 'and more' });
  assert.equal(discord.interaction(sent.id)!.followups.length, 1);

  assert.throws(() => discord.runCommand({ name: 'kill', user }), /needs option "target"/);
  assert.throws(() => discord.runCommand({ name: 'nope', user }), /not a registered/);
});

test('fake discord - an interaction answered after the deadline is unknown (10062), a second answer 40060', async () => {
  const late = await startFakeDiscord({ interactionDeadlineMs: 0 });
  const c = new Client({ intents: [GatewayIntentBits.Guilds], rest: { api: late.apiUrl } });
  const seen: Interaction[] = [];
  c.on(Events.InteractionCreate, (x) => seen.push(x));
  await c.login(late.token);
  await waitFor(() => c.isReady());
  await c.application!.commands.set([{ name: 'ping', description: 'p' }], late.guildId);
  const sent = late.runCommand({ name: 'ping', user: late.user('bob') });
  const i = await waitFor(() => seen.find((x) => x.id === sent.id));
  assert.ok(i.isChatInputCommand());
  await new Promise((r) => setImmediate(r));
  await assert.rejects(i.reply('pong'), (e: unknown) => e instanceof DiscordAPIError && e.code === 10062);
  await c.destroy();
  await late.stop();

  const user = discord.user('eve');
  const again = discord.runCommand({ name: 'status', user });
  const j = await nextInteraction(again.id);
  assert.ok(j.isChatInputCommand());
  await j.reply('one');
  // Bypass discord.js's own "already replied" guard: the fake must refuse on its own.
  await assert.rejects(
    client.rest.post(`/interactions/${again.id}/${again.token}/callback`, {
      body: { type: 4, data: { content: 'two' } },
      auth: false,
    }),
    (e: unknown) => e instanceof DiscordAPIError && e.code === 40060,
  );
});

test('fake discord - a button click is updated in place and the edit history is kept', async () => {
  const row = new ActionRowBuilder<ButtonBuilder>().addComponents(
    new ButtonBuilder().setCustomId('hal:kill:1').setLabel('Kill').setStyle(ButtonStyle.Danger),
  );
  const msg = await alerts().send({ content: 'session error', components: [row] });
  const click = discord.clickButton({ messageId: msg.id, customId: 'hal:kill:1', user: discord.user('ada') });
  const i = await nextInteraction(click.id);
  assert.ok(i.isButton());
  assert.equal(i.customId, 'hal:kill:1');
  assert.equal(i.message.id, msg.id);
  await i.update({ content: 'killed by ada', components: [] });
  const stored = discord.message(msg.id)!;
  assert.equal(stored.content, 'killed by ada');
  assert.deepEqual(stored.components, []);
  assert.equal(stored.history[0]?.content, 'session error');
  assert.throws(
    () => discord.clickButton({ messageId: msg.id, customId: 'hal:kill:1', user: discord.user('x') }),
    /no enabled button/,
  );
});

test('fake discord - enforce_nonce: the same nonce twice gives one message, returned both times', async () => {
  const before = discord.messages(alerts().id).length;
  const a = await alerts().send({ content: 'alert 1', nonce: 'n-123', enforceNonce: true });
  const b = await alerts().send({ content: 'alert 1 again', nonce: 'n-123', enforceNonce: true });
  assert.equal(a.id, b.id);
  assert.equal(discord.messages(alerts().id).length, before + 1);
  const c = await alerts().send({ content: 'no enforcement', nonce: 'n-123' });
  assert.notEqual(c.id, a.id, 'without enforce_nonce a nonce does not dedupe');
});

test('fake discord - a 429 with retry-after is waited out by the REST queue, then the call succeeds', async () => {
  discord.rateLimitNext({ method: 'POST', path: /\/channels\/\d+\/messages$/, retryAfterMs: 300 });
  const t0 = Date.now();
  const msg = await alerts().send('after a rate limit');
  assert.ok(Date.now() - t0 >= 250, 'waited for retry-after');
  const posts = discord.calls.filter(
    (c) => c.method === 'POST' && c.path === `/channels/${alerts().id}/messages`,
  );
  const last = posts.slice(-2);
  assert.equal(last[0]?.status, 429);
  assert.deepEqual(last[0]?.response, {
    message: 'You are being rate limited.',
    retry_after: 0.3,
    global: false,
    code: 0,
  });
  assert.equal(last[1]?.status, 200);
  assert.equal(discord.messages(alerts().id).filter((m) => m.id === msg.id).length, 1);
});

test('fake discord - payloads past Discord limits are refused with 50035 naming the field', async () => {
  await assert.rejects(
    alerts().send('x'.repeat(2001)),
    (e: unknown) =>
      e instanceof DiscordAPIError && e.code === 50035 && /content/.test(JSON.stringify(e.rawError)),
  );
  await assert.rejects(
    alerts().send({ embeds: [{ description: 'y'.repeat(4097) }] }),
    (e: unknown) => e instanceof DiscordAPIError && e.code === 50035,
  );
});

test('fake discord - threads: created under a channel, a user message in one reaches the bot with content', async () => {
  const web = client.channels.cache.get(discord.channelId('web')) as TextChannel;
  const thread = await web.threads.create({ name: 'web · ses_1', type: ChannelType.PublicThread });
  assert.equal(discord.threads(web.id)[0]?.id, thread.id);
  await thread.send('assistant said hi');
  const m = discord.postMessage({
    channelId: thread.id,
    content: 'please add tests',
    user: discord.user('ada'),
  });
  const got = await waitFor(() => userMessages.find((x) => x.id === m.id));
  assert.equal(got.content, 'please add tests');
  assert.equal(got.channelId, thread.id);
});

test('fake discord - op 7 RECONNECT is resumed; an outage refuses REST, then discord.js reconnects', async () => {
  const resumes = discord.resumes();
  discord.requestReconnect();
  await waitFor(() => discord.resumes() > resumes && discord.readySockets() === 1);

  await discord.goDown();
  await assert.rejects(alerts().send('while down'));
  await discord.comeUp();
  await waitFor(() => discord.readySockets() === 1, { message: 'gateway back' });
  const msg = await alerts().send('after the outage');
  assert.equal(discord.message(msg.id)?.content, 'after the outage');
});

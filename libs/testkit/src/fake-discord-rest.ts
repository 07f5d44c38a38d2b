// The REST routes of the fake Discord (API v10), answering the shapes discord.js parses: gateway
// info, guild command bulk overwrite, channel messages (with `nonce` + `enforce_nonce`), threads,
// interaction callbacks (reply, defer, update, autocomplete), and the interaction webhook
// (`@original` edits, follow-ups). Every refusal is Discord's own status, code and message.
import { type FormError, invalidFormBody, messageProblems } from './fake-discord-limits.ts';
import {
  CallbackType,
  ChannelType,
  type FakeDiscordChannel,
  type FakeDiscordCommand,
  type FakeDiscordMessage,
  type FakeDiscordState,
  type FakeDiscordUser,
  type FakeInteraction,
  MessageFlags,
  memberOf,
  messageView,
  snowflake,
} from './fake-discord-state.ts';

export interface RestAnswer {
  status: number;
  body?: unknown;
}

export interface RestContext {
  state: FakeDiscordState;
  method: string;
  /** Path after `/api/v10`, like `/channels/123/messages`. */
  path: string;
  query: URLSearchParams;
  body: unknown;
  /** The Authorization header was `Bot <the bot token>`. */
  authorized: boolean;
  gatewayUrl: string;
  /** How long an interaction may go unanswered before its token stops working. */
  interactionDeadlineMs: number;
  /** How long Discord remembers a nonce for `enforce_nonce`. */
  nonceWindowMs: number;
  /** Sends a gateway dispatch (MESSAGE_CREATE, THREAD_CREATE, …) to the connected bot. */
  dispatch(t: string, d: unknown, intent?: number): void;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

const err = (status: number, message: string, code: number): RestAnswer => ({
  status,
  body: { message, code },
});
const UNKNOWN = {
  channel: () => err(404, 'Unknown Channel', 10003),
  message: () => err(404, 'Unknown Message', 10008),
  interaction: () => err(404, 'Unknown interaction', 10062),
  webhook: () => err(404, 'Unknown Webhook', 10015),
};
const UNAUTHORIZED = (): RestAnswer => err(401, '401: Unauthorized', 0);

/** Bits of GUILD_MESSAGES and MESSAGE_CONTENT, for the MESSAGE_CREATE dispatch. */
export const GUILD_MESSAGES_INTENT = 1 << 9;

function channelOf(ctx: RestContext, id: string): FakeDiscordChannel | undefined {
  return ctx.state.channels.get(id);
}

export function createMessage(
  ctx: Pick<RestContext, 'state' | 'dispatch'>,
  channel: FakeDiscordChannel,
  author: FakeDiscordUser,
  body: Obj,
  extra: Partial<FakeDiscordMessage> = {},
): FakeDiscordMessage {
  const message: FakeDiscordMessage = {
    id: snowflake(),
    channel_id: channel.id,
    guild_id: ctx.state.guild.id,
    author,
    content: typeof body.content === 'string' ? body.content : '',
    embeds: Array.isArray(body.embeds) ? (body.embeds as Obj[]) : [],
    components: Array.isArray(body.components) ? (body.components as Obj[]) : [],
    flags: typeof body.flags === 'number' ? body.flags : 0,
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    type: 0,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    pinned: false,
    history: [],
    ...(body.nonce === undefined ? {} : { nonce: body.nonce as string | number }),
    ...extra,
  };
  ctx.state.messages.set(message.id, message);
  if (channel.type !== ChannelType.GUILD_TEXT) channel.message_count = (channel.message_count ?? 0) + 1;
  // Ephemeral messages exist only for the one user: the gateway never carries them.
  if ((message.flags & MessageFlags.EPHEMERAL) === 0) {
    ctx.dispatch(
      'MESSAGE_CREATE',
      { ...messageView(message), member: memberOf(author, []) },
      GUILD_MESSAGES_INTENT,
    );
  }
  return message;
}

function editMessage(ctx: RestContext, message: FakeDiscordMessage, body: Obj): void {
  message.history.push({
    content: message.content,
    embeds: message.embeds,
    components: message.components,
    at: message.edited_timestamp ?? message.timestamp,
  });
  if (typeof body.content === 'string' || body.content === null) message.content = body.content ?? '';
  if (Array.isArray(body.embeds) || body.embeds === null) message.embeds = (body.embeds ?? []) as Obj[];
  if (Array.isArray(body.components) || body.components === null)
    message.components = (body.components ?? []) as Obj[];
  if (typeof body.flags === 'number') message.flags = (message.flags & MessageFlags.EPHEMERAL) | body.flags;
  // An edit of a deferred reply is the reply: the "thinking…" state ends.
  message.flags &= ~MessageFlags.LOADING;
  message.edited_timestamp = new Date().toISOString();
  if ((message.flags & MessageFlags.EPHEMERAL) === 0) {
    ctx.dispatch('MESSAGE_UPDATE', messageView(message), GUILD_MESSAGES_INTENT);
  }
}

function formCheck(body: unknown): RestAnswer | undefined {
  const problems = messageProblems(body);
  return problems.length === 0 ? undefined : { status: 400, body: invalidFormBody(problems) };
}

function postChannelMessage(ctx: RestContext, channelId: string): RestAnswer {
  const channel = channelOf(ctx, channelId);
  if (!channel) return UNKNOWN.channel();
  const body = isObj(ctx.body) ? ctx.body : {};
  const bad = formCheck(body);
  if (bad) return bad;
  const hasContent =
    (typeof body.content === 'string' && body.content.length > 0) ||
    (Array.isArray(body.embeds) && body.embeds.length > 0) ||
    (Array.isArray(body.components) && body.components.length > 0);
  if (!hasContent) return err(400, 'Cannot send an empty message', 50006);
  if (channel.thread_metadata?.locked) return err(403, 'Missing Permissions', 50013);
  // enforce_nonce: a message by the same author with the same nonce in the last few minutes is
  // returned as it is, and no second message is created.
  if (body.nonce !== undefined && body.enforce_nonce === true) {
    const key = `${ctx.state.bot.id}|${String(body.nonce)}`;
    const seen = ctx.state.nonces.get(key);
    const existing = seen ? ctx.state.messages.get(seen.messageId) : undefined;
    if (seen && existing && Date.now() - seen.at < ctx.nonceWindowMs) {
      return { status: 200, body: messageView(existing) };
    }
    const message = createMessage(ctx, channel, ctx.state.bot, body);
    ctx.state.nonces.set(key, { messageId: message.id, at: Date.now() });
    return { status: 200, body: messageView(message) };
  }
  return { status: 200, body: messageView(createMessage(ctx, channel, ctx.state.bot, body)) };
}

function createThread(ctx: RestContext, parentId: string, fromMessage?: string): RestAnswer {
  const parent = channelOf(ctx, parentId);
  if (!parent || parent.type !== ChannelType.GUILD_TEXT) return UNKNOWN.channel();
  const body = isObj(ctx.body) ? ctx.body : {};
  const name = typeof body.name === 'string' ? body.name : '';
  if (name.length === 0 || name.length > 100) {
    return {
      status: 400,
      body: invalidFormBody([
        { path: 'name', code: 'BASE_TYPE_BAD_LENGTH', message: 'Must be between 1 and 100 in length.' },
      ]),
    };
  }
  let starter: FakeDiscordMessage | undefined;
  if (fromMessage !== undefined) {
    starter = ctx.state.messages.get(fromMessage);
    if (!starter || starter.channel_id !== parentId) return UNKNOWN.message();
    if (starter.thread) return err(400, 'A thread has already been created for this message', 160004);
  }
  const thread: FakeDiscordChannel = {
    // A thread started from a message has the message's id, as in Discord.
    id: starter?.id ?? snowflake(),
    type: typeof body.type === 'number' ? body.type : ChannelType.PUBLIC_THREAD,
    name,
    guild_id: ctx.state.guild.id,
    parent_id: parentId,
    position: 0,
    permission_overwrites: [],
    owner_id: ctx.state.bot.id,
    message_count: 0,
    member_count: 1,
    thread_metadata: {
      archived: false,
      locked: false,
      auto_archive_duration:
        typeof body.auto_archive_duration === 'number' ? body.auto_archive_duration : 1440,
      archive_timestamp: new Date().toISOString(),
    },
  };
  ctx.state.channels.set(thread.id, thread);
  if (starter) starter.thread = thread;
  ctx.dispatch('THREAD_CREATE', { ...thread, newly_created: true });
  return { status: 201, body: thread };
}

function interactionOf(ctx: RestContext, id: string, token: string): FakeInteraction | undefined {
  const i = ctx.state.interactions.get(id);
  return i && i.token === token ? i : undefined;
}

function interactionByToken(ctx: RestContext, appId: string, token: string): FakeInteraction | undefined {
  if (appId !== ctx.state.applicationId) return undefined;
  for (const i of ctx.state.interactions.values()) if (i.token === token) return i;
  return undefined;
}

function metadataOf(
  ctx: RestContext,
  i: FakeInteraction,
): NonNullable<FakeDiscordMessage['interaction_metadata']> {
  return {
    id: i.id,
    type: i.type,
    user: i.user,
    authorizing_integration_owners: { '0': ctx.state.guild.id },
  };
}

/** Interaction tokens work for 15 minutes after the interaction. */
const TOKEN_LIFETIME_MS = 15 * 60_000;

function callback(ctx: RestContext, id: string, token: string): RestAnswer {
  const interaction = interactionOf(ctx, id, token);
  if (!interaction) return UNKNOWN.interaction();
  if (interaction.callback) return err(400, 'Interaction has already been acknowledged.', 40060);
  // Discord gives a bot 3 s to answer (or defer); after that the interaction is gone.
  if (Date.now() - interaction.createdAt > ctx.interactionDeadlineMs) return UNKNOWN.interaction();
  const body = isObj(ctx.body) ? ctx.body : {};
  const type = typeof body.type === 'number' ? body.type : -1;
  const data = isObj(body.data) ? body.data : {};
  const channel = channelOf(ctx, interaction.channelId);
  if (!channel) return UNKNOWN.channel();
  const isComponent = interaction.messageId !== undefined;
  const meta = { interaction_metadata: metadataOf(ctx, interaction) };
  switch (type) {
    case CallbackType.CHANNEL_MESSAGE_WITH_SOURCE: {
      const bad = formCheck(data);
      if (bad) return bad;
      const m = createMessage(ctx, channel, ctx.state.bot, data, meta);
      interaction.originalId = m.id;
      break;
    }
    case CallbackType.DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: {
      const flags = (typeof data.flags === 'number' ? data.flags : 0) | MessageFlags.LOADING;
      const m = createMessage(ctx, channel, ctx.state.bot, { flags }, meta);
      interaction.originalId = m.id;
      break;
    }
    case CallbackType.DEFERRED_UPDATE_MESSAGE:
    case CallbackType.UPDATE_MESSAGE: {
      if (!isComponent) return err(400, 'Interaction callback type is not valid for this interaction', 40004);
      const target = ctx.state.messages.get(interaction.messageId ?? '');
      if (!target) return UNKNOWN.message();
      if (type === CallbackType.UPDATE_MESSAGE) {
        const bad = formCheck(data);
        if (bad) return bad;
        editMessage(ctx, target, data);
      }
      interaction.originalId = target.id;
      break;
    }
    case CallbackType.APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: {
      const choices = Array.isArray(data.choices) ? data.choices : [];
      if (choices.length > 25) {
        return {
          status: 400,
          body: invalidFormBody([
            { path: 'data.choices', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 25 or fewer in length.' },
          ]),
        };
      }
      interaction.choices = choices as FakeInteraction['choices'];
      break;
    }
    default:
      return {
        status: 400,
        body: invalidFormBody([
          { path: 'type', code: 'BASE_TYPE_CHOICES', message: `Value must be one of {1, 4, 5, 6, 7, 8, 9}.` },
        ]),
      };
  }
  interaction.callback = { type, data, at: Date.now() };
  if (ctx.query.get('with_response') === 'true') {
    const original = interaction.originalId ? ctx.state.messages.get(interaction.originalId) : undefined;
    return {
      status: 200,
      body: {
        interaction: {
          id: interaction.id,
          type: interaction.type,
          activity_instance_id: null,
          response_message_id: original?.id ?? null,
          response_message_loading: original ? (original.flags & MessageFlags.LOADING) !== 0 : false,
          response_message_ephemeral: original ? (original.flags & MessageFlags.EPHEMERAL) !== 0 : false,
        },
        ...(original ? { resource: { type, message: messageView(original) } } : {}),
      },
    };
  }
  return { status: 204 };
}

function webhook(ctx: RestContext, appId: string, token: string, messageId?: string): RestAnswer {
  const interaction = interactionByToken(ctx, appId, token);
  if (!interaction) return UNKNOWN.webhook();
  if (Date.now() - interaction.createdAt > TOKEN_LIFETIME_MS) return err(401, 'Invalid Webhook Token', 50027);
  const body = isObj(ctx.body) ? ctx.body : {};
  if (messageId === undefined) {
    // POST /webhooks/{app}/{token}: a follow-up message (needs the interaction answered first).
    if (ctx.method !== 'POST') return err(405, '405: Method Not Allowed', 0);
    if (!interaction.callback) return UNKNOWN.webhook();
    const bad = formCheck(body);
    if (bad) return bad;
    const channel = channelOf(ctx, interaction.channelId);
    if (!channel) return UNKNOWN.channel();
    const m = createMessage(ctx, channel, ctx.state.bot, body, {
      interaction_metadata: metadataOf(ctx, interaction),
    });
    interaction.followups.push(m.id);
    return { status: 200, body: messageView(m) };
  }
  const id = messageId === '@original' ? interaction.originalId : messageId;
  const message = id === undefined ? undefined : ctx.state.messages.get(id);
  if (!message) return UNKNOWN.message();
  if (ctx.method === 'GET') return { status: 200, body: messageView(message) };
  if (ctx.method === 'DELETE') {
    ctx.state.messages.delete(message.id);
    return { status: 204 };
  }
  if (ctx.method !== 'PATCH') return err(405, '405: Method Not Allowed', 0);
  const bad = formCheck(body);
  if (bad) return bad;
  editMessage(ctx, message, body);
  return { status: 200, body: messageView(message) };
}

function bulkOverwrite(ctx: RestContext, appId: string, guildId: string): RestAnswer {
  if (appId !== ctx.state.applicationId) return err(403, 'Missing Access', 50001);
  if (guildId !== ctx.state.guild.id) return err(404, 'Unknown Guild', 10004);
  if (!Array.isArray(ctx.body)) {
    return {
      status: 400,
      body: invalidFormBody([{ path: '', code: 'BASE_TYPE_LIST', message: 'Must be a list.' }]),
    };
  }
  const problems: FormError[] = [];
  const next = new Map<string, FakeDiscordCommand>();
  for (const [i, raw] of ctx.body.entries()) {
    if (!isObj(raw) || typeof raw.name !== 'string' || !/^[-_\p{L}\p{N}]{1,32}$/u.test(raw.name)) {
      problems.push({ path: `${i}.name`, code: 'APPLICATION_COMMAND_INVALID_NAME', message: 'Invalid name' });
      continue;
    }
    const description = typeof raw.description === 'string' ? raw.description : '';
    if (description.length < 1 || description.length > 100) {
      problems.push({
        path: `${i}.description`,
        code: 'BASE_TYPE_BAD_LENGTH',
        message: 'Must be between 1 and 100 in length.',
      });
    }
    const existing = ctx.state.commands.get(raw.name);
    next.set(raw.name, {
      // Overwriting keeps a command's id when its name stays, as Discord does.
      id: existing?.id ?? snowflake(),
      application_id: appId,
      guild_id: guildId,
      name: raw.name,
      description,
      type: typeof raw.type === 'number' ? raw.type : 1,
      ...(Array.isArray(raw.options) ? { options: raw.options as Obj[] } : {}),
      default_member_permissions:
        typeof raw.default_member_permissions === 'string' ? raw.default_member_permissions : null,
      version: snowflake(),
    });
  }
  if (ctx.body.length > 100) {
    problems.push({ path: '', code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 100 or fewer in length.' });
  }
  if (problems.length > 0) return { status: 400, body: invalidFormBody(problems) };
  ctx.state.commands.clear();
  for (const [k, v] of next) ctx.state.commands.set(k, v);
  return { status: 200, body: [...next.values()] };
}

type Handler = (ctx: RestContext, m: string[]) => RestAnswer;

/** [method, path pattern, needs the bot token, handler]. */
const ROUTES: Array<[string, RegExp, boolean, Handler]> = [
  [
    'GET',
    /^\/gateway\/bot$/,
    true,
    (ctx) => ({
      status: 200,
      body: {
        url: ctx.gatewayUrl,
        shards: 1,
        session_start_limit: { total: 1000, remaining: 999, reset_after: 14_400_000, max_concurrency: 1 },
      },
    }),
  ],
  ['GET', /^\/gateway$/, false, (ctx) => ({ status: 200, body: { url: ctx.gatewayUrl } })],
  ['GET', /^\/users\/@me$/, true, (ctx) => ({ status: 200, body: ctx.state.bot })],
  [
    'GET',
    /^\/applications\/@me$/,
    true,
    (ctx) => ({
      status: 200,
      body: {
        id: ctx.state.applicationId,
        name: ctx.state.bot.username,
        description: '',
        bot_public: false,
        bot_require_code_grant: false,
        flags: 0,
        owner: userOf0(ctx),
      },
    }),
  ],
  [
    'PUT',
    /^\/applications\/(\d+)\/guilds\/(\d+)\/commands$/,
    true,
    (ctx, m) => bulkOverwrite(ctx, m[1]!, m[2]!),
  ],
  [
    'GET',
    /^\/applications\/(\d+)\/guilds\/(\d+)\/commands$/,
    true,
    (ctx) => ({ status: 200, body: [...ctx.state.commands.values()] }),
  ],
  [
    'GET',
    /^\/channels\/(\d+)$/,
    true,
    (ctx, m) => {
      const c = channelOf(ctx, m[1]!);
      return c ? { status: 200, body: c } : UNKNOWN.channel();
    },
  ],
  ['POST', /^\/channels\/(\d+)\/messages$/, true, (ctx, m) => postChannelMessage(ctx, m[1]!)],
  [
    'GET',
    /^\/channels\/(\d+)\/messages\/(\d+)$/,
    true,
    (ctx, m) => {
      const msg = ctx.state.messages.get(m[2]!);
      return msg && msg.channel_id === m[1] ? { status: 200, body: messageView(msg) } : UNKNOWN.message();
    },
  ],
  [
    'PATCH',
    /^\/channels\/(\d+)\/messages\/(\d+)$/,
    true,
    (ctx, m) => {
      const msg = ctx.state.messages.get(m[2]!);
      if (!msg || msg.channel_id !== m[1]) return UNKNOWN.message();
      if (msg.author.id !== ctx.state.bot.id)
        return err(403, 'Cannot edit a message authored by another user', 50005);
      const bad = formCheck(ctx.body);
      if (bad) return bad;
      editMessage(ctx, msg, isObj(ctx.body) ? ctx.body : {});
      return { status: 200, body: messageView(msg) };
    },
  ],
  ['POST', /^\/channels\/(\d+)\/threads$/, true, (ctx, m) => createThread(ctx, m[1]!)],
  [
    'POST',
    /^\/channels\/(\d+)\/messages\/(\d+)\/threads$/,
    true,
    (ctx, m) => createThread(ctx, m[1]!, m[2]!),
  ],
  ['POST', /^\/interactions\/(\d+)\/([^/]+)\/callback$/, false, (ctx, m) => callback(ctx, m[1]!, m[2]!)],
  ['POST', /^\/webhooks\/(\d+)\/([^/]+)$/, false, (ctx, m) => webhook(ctx, m[1]!, m[2]!)],
  [
    '*',
    /^\/webhooks\/(\d+)\/([^/]+)\/messages\/(@original|\d+)$/,
    false,
    (ctx, m) => webhook(ctx, m[1]!, m[2]!, m[3]!),
  ],
];

function userOf0(ctx: RestContext): FakeDiscordUser {
  return {
    id: ctx.state.guild.owner_id,
    username: 'owner',
    global_name: 'owner',
    discriminator: '0',
    avatar: null,
  };
}

/** The route's answer, or Discord's 404/405/401 when nothing matches or the token is wrong. */
export function route(ctx: RestContext): RestAnswer {
  let pathMatched = false;
  for (const [method, pattern, needsAuth, handler] of ROUTES) {
    const m = pattern.exec(ctx.path);
    if (!m) continue;
    pathMatched = true;
    if (method !== '*' && method !== ctx.method) continue;
    if (needsAuth && !ctx.authorized) return UNAUTHORIZED();
    return handler(ctx, m);
  }
  return pathMatched ? err(405, '405: Method Not Allowed', 0) : err(404, '404: Not Found', 0);
}

/**
 * The rate-limit bucket of a request, as Discord scopes them: by route, with the top-level
 * resource id ("major parameter": channel, guild, webhook) kept and every other id folded.
 */
export function bucketOf(method: string, path: string): string {
  const major = /^\/(channels|guilds|webhooks|interactions)\/(\d+)/.exec(path);
  const folded = path.replace(/\/\d{5,}/g, '/:id').replace(/\/webhooks\/:id\/[^/]+/, '/webhooks/:id/:token');
  const interactionsFolded = folded.replace(/\/interactions\/:id\/[^/]+/, '/interactions/:id/:token');
  return `${method} ${interactionsFolded}${major ? ` ${major[2]}` : ''}`;
}

// Channel messages and threads of the fake Discord: create (with `nonce` + `enforce_nonce`),
// edit (keeping the history), threads from a channel or a message; the gateway dispatches each.
import { invalidFormBody } from './fake-discord-limits.ts';
import {
  channelOf,
  err,
  formCheck,
  isObj,
  type Obj,
  type RestAnswer,
  type RestContext,
  UNKNOWN,
} from './fake-discord-rest-answer.ts';
import {
  ChannelType,
  type FakeDiscordChannel,
  type FakeDiscordMessage,
  type FakeDiscordUser,
  MessageFlags,
  memberOf,
  messageView,
  snowflake,
} from './fake-discord-state.ts';

/** Bits of GUILD_MESSAGES and MESSAGE_CONTENT, for the MESSAGE_CREATE dispatch. */
const GUILD_MESSAGES_INTENT = 1 << 9;

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

export function editMessage(ctx: RestContext, message: FakeDiscordMessage, body: Obj): void {
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

export function postChannelMessage(ctx: RestContext, channelId: string): RestAnswer {
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

export function createThread(ctx: RestContext, parentId: string, fromMessage?: string): RestAnswer {
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

// Interactions of the fake Discord: the callback (reply, defer, update, autocomplete) within
// the answer deadline, and the interaction webhook (`@original` edits, follow-ups) for 15 minutes.
import { invalidFormBody } from './fake-discord-limits.ts';
import { createMessage, editMessage } from './fake-discord-messages.ts';
import {
  channelOf,
  err,
  formCheck,
  isObj,
  type RestAnswer,
  type RestContext,
  UNKNOWN,
} from './fake-discord-rest-answer.ts';
import {
  CallbackType,
  type FakeDiscordMessage,
  type FakeInteraction,
  MessageFlags,
  messageView,
} from './fake-discord-state.ts';

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

export function callback(ctx: RestContext, id: string, token: string): RestAnswer {
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

export function webhook(ctx: RestContext, appId: string, token: string, messageId?: string): RestAnswer {
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

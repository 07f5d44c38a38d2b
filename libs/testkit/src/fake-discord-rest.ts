// The REST routes of the fake Discord (API v10), answering the shapes discord.js parses: gateway
// info, guild command bulk overwrite, channel messages (with `nonce` + `enforce_nonce`), threads,
// interaction callbacks (reply, defer, update, autocomplete), and the interaction webhook
// (`@original` edits, follow-ups). Every refusal is Discord's own status, code and message.
// The handlers live by resource: fake-discord-messages.ts, fake-discord-interactions.ts,
// fake-discord-commands.ts; what they share in fake-discord-rest-answer.ts.
import { bulkOverwrite } from './fake-discord-commands.ts';
import { callback, webhook } from './fake-discord-interactions.ts';
import { createThread, editMessage, postChannelMessage } from './fake-discord-messages.ts';
import {
  channelOf,
  err,
  formCheck,
  isObj,
  type RestAnswer,
  type RestContext,
  UNAUTHORIZED,
  UNKNOWN,
} from './fake-discord-rest-answer.ts';
import { type FakeDiscordUser, messageView } from './fake-discord-state.ts';

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

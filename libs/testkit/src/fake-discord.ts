// A fake Discord on loopback for tests that run discord.js itself: REST (API v10) and the
// gateway WebSocket on one port, every REST call and gateway frame recorded, a test-driven
// "user" who runs slash commands, types in autocomplete, clicks buttons and writes in threads,
// and the failures a bot meets in production: 429s with Discord's headers and bodies, bucket
// limits, a gateway that asks to reconnect or drops, and an outage (nothing listening at all).
//
//   const discord = await startFakeDiscord({ guild: { channels: [{ name: 'alerts' }] } });
//   const client = new Client({ intents, rest: { api: discord.apiUrl } });
//   await client.login(discord.token);
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createFakeGateway, type GatewayFrame, Intent } from './fake-discord-gateway.ts';
import { createInteractions } from './fake-discord-interaction-create.ts';
import { createMessage } from './fake-discord-messages.ts';
import { createRateLimits, type RateLimitRule } from './fake-discord-rate-limits.ts';
import { bucketOf, route } from './fake-discord-rest.ts';
import type { RestAnswer } from './fake-discord-rest-answer.ts';
import {
  ChannelType,
  createState,
  type FakeDiscordChannel,
  type FakeDiscordCommand,
  type FakeDiscordMessage,
  type FakeDiscordState,
  type FakeDiscordUser,
  type FakeGuildSpec,
  type FakeInteraction,
  InteractionType,
  memberOf,
  messageView,
  snowflake,
  userOf,
} from './fake-discord-state.ts';

export interface StartFakeDiscordOptions {
  port?: number;
  /** The bot token discord.js logs in with. Default: a random one. */
  token?: string;
  guild?: FakeGuildSpec;
  /** HELLO's heartbeat_interval. Default 41,250 ms, Discord's usual value. */
  heartbeatIntervalMs?: number;
  /** How long an interaction may go unanswered (Discord: 3 s). */
  interactionDeadlineMs?: number;
  /** How long a nonce is remembered for `enforce_nonce` (Discord: "the past few minutes"). Default 5 min. */
  nonceWindowMs?: number;
  /** Requests per bucket per window before the fake answers 429 on its own. Default 50 per 1 s. */
  bucketLimit?: number;
  bucketWindowMs?: number;
}

export interface RecordedDiscordCall {
  method: string;
  /** After `/api/v10`, like `/channels/123/messages`. */
  path: string;
  query: string;
  body: unknown;
  status: number;
  /** The answer's body as sent (undefined for 204). */
  response: unknown;
  bucket: string;
  at: number;
}

/** A Discord user a test acts as: its id, name and the guild roles it holds. */
export interface DiscordTestUser {
  id: string;
  name: string;
  roles: string[];
}

export type CommandOptionValue = string | number | boolean;

export interface FakeDiscord {
  /** `rest: { api: fake.apiUrl }` for discord.js (it appends `/v10`). */
  apiUrl: string;
  port: number;
  token: string;
  guildId: string;
  applicationId: string;
  bot: FakeDiscordUser;
  /** The id of the text channel or role created with that name. */
  channelId(name: string): string;
  roleId(name: string): string;
  /** Every REST call that reached the fake, in order. */
  readonly calls: RecordedDiscordCall[];
  readonly gatewayFrames: readonly GatewayFrame[];
  /** Messages (including ephemeral ones) in creation order, optionally of one channel or thread. */
  messages(channelId?: string): FakeDiscordMessage[];
  message(id: string): FakeDiscordMessage | undefined;
  /** Threads, optionally of one parent channel. */
  threads(parentId?: string): FakeDiscordChannel[];
  /** The guild commands the bot registered. */
  commands(): FakeDiscordCommand[];
  interaction(id: string): FakeInteraction | undefined;
  user(name: string, roles?: string[]): DiscordTestUser;
  /** A user runs a registered slash command; option values are typed by the command's registration. */
  runCommand(opts: {
    name: string;
    options?: Record<string, CommandOptionValue>;
    user: DiscordTestUser;
    channelId?: string;
  }): FakeInteraction;
  /** A user types into an option with autocomplete; the bot's choices land on `interaction.choices`. */
  autocomplete(opts: {
    name: string;
    focused: string;
    value: string;
    options?: Record<string, CommandOptionValue>;
    user: DiscordTestUser;
    channelId?: string;
  }): FakeInteraction;
  /** A user clicks a button on a message. */
  clickButton(opts: { messageId: string; customId: string; user: DiscordTestUser }): FakeInteraction;
  /** A user writes in a channel or thread (MESSAGE_CREATE to bots with the GUILD_MESSAGES intent). */
  postMessage(opts: { channelId: string; content: string; user: DiscordTestUser }): FakeDiscordMessage;
  rateLimitNext(rule: RateLimitRule): void;
  /** Nothing listens any more: REST connections are refused and the gateway sockets drop. */
  goDown(): Promise<void>;
  comeUp(): Promise<void>;
  isDown(): boolean;
  /** Op 7 RECONNECT to the bot, as Discord sends before moving a session. */
  requestReconnect(): void;
  /** Drops the gateway sockets without a close frame. */
  dropGateway(): void;
  /** Gateway sockets that identified or resumed and are open. */
  readySockets(): number;
  identifies(): number;
  resumes(): number;
  stop(): Promise<void>;
}

export async function startFakeDiscord(opts: StartFakeDiscordOptions = {}): Promise<FakeDiscord> {
  const token = opts.token ?? `fake.${randomBytes(18).toString('base64url')}`;
  const state: FakeDiscordState = createState(opts.guild ?? {});
  const calls: RecordedDiscordCall[] = [];
  const rateLimits = createRateLimits(opts.bucketLimit ?? 50, opts.bucketWindowMs ?? 1_000);
  const sockets = new Set<Socket>();
  let port = opts.port ?? 0;
  let down = false;

  const gatewayUrl = () => `ws://127.0.0.1:${port}/gateway`;
  const gateway = createFakeGateway({
    state,
    token,
    heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 41_250,
    resumeUrl: gatewayUrl,
  });
  const dispatch = (t: string, d: unknown, intent?: number) => gateway.dispatch(t, d, intent);

  function answer(
    res: ServerResponse,
    call: RecordedDiscordCall,
    a: RestAnswer,
    headers: Record<string, string>,
  ) {
    call.status = a.status;
    call.response = a.body;
    // A 204 carries no content-type: discord.js parses a JSON-typed empty body and fails.
    if (a.body === undefined) res.writeHead(a.status, headers).end();
    else
      res.writeHead(a.status, { ...headers, 'content-type': 'application/json' }).end(JSON.stringify(a.body));
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const prefix = '/api/v10';
    const pathname = decodeURIComponent(url.pathname);
    const path = pathname.startsWith(prefix) ? pathname.slice(prefix.length) : pathname;
    const bucket = bucketOf(method, path);
    const call: RecordedDiscordCall = {
      method,
      path,
      query: url.search,
      body: undefined,
      status: 0,
      response: undefined,
      bucket,
      at: Date.now(),
    };
    calls.push(call);
    if (!url.pathname.startsWith(`${prefix}/`)) {
      answer(res, call, { status: 404, body: { message: '404: Not Found', code: 0 } }, {});
      return;
    }
    if (raw.length > 0) {
      if (!String(req.headers['content-type'] ?? '').startsWith('application/json')) {
        answer(
          res,
          call,
          { status: 400, body: { message: 'fake Discord: only JSON bodies', code: 50109 } },
          {},
        );
        return;
      }
      try {
        call.body = JSON.parse(raw);
      } catch {
        answer(
          res,
          call,
          { status: 400, body: { message: 'The request body contains invalid JSON.', code: 50109 } },
          {},
        );
        return;
      }
    }
    const now = Date.now();
    const hit = rateLimits.limited(method, path, bucket, now);
    if (hit) {
      const seconds = hit.retryAfterMs / 1000;
      answer(
        res,
        call,
        {
          status: 429,
          body: { message: 'You are being rate limited.', retry_after: seconds, global: hit.global, code: 0 },
        },
        rateLimits.refusalHeaders(hit, bucket, now),
      );
      return;
    }
    const a = route({
      state,
      method,
      path,
      query: url.searchParams,
      body: call.body,
      authorized: req.headers.authorization === `Bot ${token}`,
      gatewayUrl: gatewayUrl(),
      interactionDeadlineMs: opts.interactionDeadlineMs ?? 3_000,
      nonceWindowMs: opts.nonceWindowMs ?? 5 * 60_000,
      dispatch,
    });
    answer(res, call, a, rateLimits.headers(bucket, now));
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ message: `fake Discord: ${(err as Error).message}`, code: 0 }));
    });
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('upgrade', (req, socket, head) => {
    if (!(req.url ?? '').startsWith('/gateway')) {
      socket.destroy();
      return;
    }
    gateway.handleUpgrade(req, socket, head);
  });
  const listen = async () => {
    server.listen(port, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  };
  await listen();

  const { newInteraction, commandData } = createInteractions(state, dispatch);
  const channelByName = (name: string) => [...state.channels.values()].find((c) => c.name === name);
  const defaultChannel = () =>
    [...state.channels.values()].find((c) => c.type === ChannelType.GUILD_TEXT)!.id;

  return {
    get apiUrl() {
      return `http://127.0.0.1:${port}/api`;
    },
    get port() {
      return port;
    },
    token,
    guildId: state.guild.id,
    applicationId: state.applicationId,
    bot: state.bot,
    channelId(name) {
      const c = channelByName(name);
      if (!c) throw new Error(`fake Discord: no channel named ${name}`);
      return c.id;
    },
    roleId(name) {
      const r = [...state.roles.values()].find((x) => x.name === name);
      if (!r) throw new Error(`fake Discord: no role named ${name}`);
      return r.id;
    },
    calls,
    gatewayFrames: gateway.frames,
    messages(channelId) {
      return [...state.messages.values()].filter(
        (m) => channelId === undefined || m.channel_id === channelId,
      );
    },
    message: (id) => state.messages.get(id),
    threads(parentId) {
      return [...state.channels.values()].filter(
        (c) => c.type !== ChannelType.GUILD_TEXT && (parentId === undefined || c.parent_id === parentId),
      );
    },
    commands: () => [...state.commands.values()],
    interaction: (id) => state.interactions.get(id),
    user(name, roles = []) {
      return { id: snowflake(), name, roles };
    },
    runCommand({ name, options = {}, user, channelId }) {
      return newInteraction(
        InteractionType.APPLICATION_COMMAND,
        user,
        channelId ?? defaultChannel(),
        commandData(name, options),
      );
    },
    autocomplete({ name, focused, value, options = {}, user, channelId }) {
      return newInteraction(
        InteractionType.AUTOCOMPLETE,
        user,
        channelId ?? defaultChannel(),
        commandData(name, { ...options, [focused]: value }, focused),
      );
    },
    clickButton({ messageId, customId, user }) {
      const message = state.messages.get(messageId);
      if (!message) throw new Error(`fake Discord: no message ${messageId}`);
      const found = message.components.some(
        (row) =>
          Array.isArray(row.components) &&
          row.components.some(
            (c: { custom_id?: string; disabled?: boolean }) => c.custom_id === customId && !c.disabled,
          ),
      );
      if (!found) throw new Error(`fake Discord: message ${messageId} has no enabled button "${customId}"`);
      return newInteraction(
        InteractionType.MESSAGE_COMPONENT,
        user,
        message.channel_id,
        { custom_id: customId, component_type: 2 },
        message,
      );
    },
    postMessage({ channelId, content, user }) {
      const channel = state.channels.get(channelId);
      if (!channel) throw new Error(`fake Discord: no channel ${channelId}`);
      const author = userOf(user.id, user.name);
      // Content reaches only bots with the (privileged) MESSAGE_CONTENT intent, as in Discord.
      const withContent = gateway.sessionIntents().some((i) => i & Intent.MESSAGE_CONTENT);
      const message = createMessage({ state, dispatch: () => undefined }, channel, author, { content });
      gateway.dispatch(
        'MESSAGE_CREATE',
        {
          ...messageView(message),
          content: withContent ? content : '',
          member: memberOf(author, user.roles),
        },
        Intent.GUILD_MESSAGES,
      );
      return message;
    },
    rateLimitNext: (rule) => rateLimits.inject(rule),
    async goDown() {
      if (down) return;
      down = true;
      gateway.terminateAll();
      const closed = new Promise((r) => server.close(r));
      for (const s of sockets) s.destroy();
      await closed;
    },
    async comeUp() {
      if (!down) return;
      await listen();
      down = false;
    },
    isDown: () => down,
    requestReconnect: () => gateway.requestReconnect(),
    dropGateway: () => gateway.terminateAll(),
    readySockets: () => gateway.readySockets(),
    identifies: () => gateway.identifies(),
    resumes: () => gateway.resumes(),
    async stop() {
      gateway.close();
      if (!down) {
        const closed = new Promise((r) => server.close(r));
        for (const s of sockets) s.destroy();
        await closed;
      }
    },
  };
}

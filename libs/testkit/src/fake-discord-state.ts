// What the fake Discord knows: one guild with its channels and roles, the messages in them,
// the bot's registered guild commands and the interactions it dispatched. Shapes are Discord's
// API v10 objects, trimmed to the fields discord.js reads.

/** Discord's epoch (2015-01-01): a snowflake is (ms since then) << 22 | worker/process/increment. */
const DISCORD_EPOCH = 1_420_070_400_000n;
let increment = 0n;

export function snowflake(at = Date.now()): string {
  increment = (increment + 1n) & 0xfffn;
  return (((BigInt(at) - DISCORD_EPOCH) << 22n) | increment).toString();
}

export const ChannelType = { GUILD_TEXT: 0, PUBLIC_THREAD: 11, PRIVATE_THREAD: 12 } as const;
export const MessageFlags = { EPHEMERAL: 64, LOADING: 128 } as const;
export const InteractionType = {
  PING: 1,
  APPLICATION_COMMAND: 2,
  MESSAGE_COMPONENT: 3,
  AUTOCOMPLETE: 4,
} as const;
export const CallbackType = {
  PONG: 1,
  CHANNEL_MESSAGE_WITH_SOURCE: 4,
  DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE: 5,
  DEFERRED_UPDATE_MESSAGE: 6,
  UPDATE_MESSAGE: 7,
  APPLICATION_COMMAND_AUTOCOMPLETE_RESULT: 8,
  MODAL: 9,
} as const;

export interface FakeDiscordUser {
  id: string;
  username: string;
  global_name: string | null;
  discriminator: string;
  avatar: string | null;
  bot?: boolean;
}

export interface FakeDiscordChannel {
  id: string;
  type: number;
  name: string;
  guild_id: string;
  parent_id: string | null;
  position: number;
  permission_overwrites: unknown[];
  /** Threads only. */
  thread_metadata?: {
    archived: boolean;
    auto_archive_duration: number;
    locked: boolean;
    archive_timestamp: string;
  };
  owner_id?: string;
  message_count?: number;
  member_count?: number;
}

export interface FakeDiscordMessage {
  id: string;
  channel_id: string;
  guild_id: string;
  author: FakeDiscordUser;
  content: string;
  embeds: Array<Record<string, unknown>>;
  components: Array<Record<string, unknown>>;
  flags: number;
  nonce?: string | number;
  timestamp: string;
  edited_timestamp: string | null;
  type: number;
  tts: boolean;
  mention_everyone: boolean;
  mentions: unknown[];
  mention_roles: unknown[];
  attachments: unknown[];
  pinned: boolean;
  /** Set on a message that answers an interaction. */
  interaction_metadata?: {
    id: string;
    type: number;
    user: FakeDiscordUser;
    authorizing_integration_owners: Record<string, string>;
  };
  /** The thread started from this message, when there is one. */
  thread?: FakeDiscordChannel;
  /** Every version the message had before its edits, oldest first (not a Discord field; tests read it). */
  history: Array<{ content: string; embeds: unknown[]; components: unknown[]; at: string }>;
}

export interface FakeDiscordCommand {
  id: string;
  application_id: string;
  guild_id: string;
  name: string;
  description: string;
  type: number;
  options?: Array<Record<string, unknown>>;
  default_member_permissions: string | null;
  version: string;
}

export interface FakeInteraction {
  id: string;
  token: string;
  type: number;
  createdAt: number;
  channelId: string;
  user: FakeDiscordUser;
  /** For components: the message the button sits on. */
  messageId?: string;
  /** The callback the bot answered with (the first one; Discord refuses a second). */
  callback?: { type: number; data?: Record<string, unknown>; at: number };
  /** The message that is `@original` once the interaction was answered. */
  originalId?: string;
  /** Choices of an autocomplete answer. */
  choices?: Array<{ name: string; value: string | number }>;
  followups: string[];
}

export interface FakeDiscordRole {
  id: string;
  name: string;
}

export interface FakeGuildSpec {
  id?: string;
  name?: string;
  /** Text channels to create; each gets a snowflake id unless given. */
  channels?: Array<{ name: string; id?: string }>;
  roles?: Array<{ name: string; id?: string }>;
}

export interface FakeDiscordState {
  guild: { id: string; name: string; owner_id: string };
  bot: FakeDiscordUser;
  applicationId: string;
  channels: Map<string, FakeDiscordChannel>;
  roles: Map<string, FakeDiscordRole>;
  messages: Map<string, FakeDiscordMessage>;
  commands: Map<string, FakeDiscordCommand>;
  interactions: Map<string, FakeInteraction>;
  /** `author|nonce` → message id and when it was created, for `enforce_nonce`. */
  nonces: Map<string, { messageId: string; at: number }>;
}

export function userOf(id: string, name: string, bot = false): FakeDiscordUser {
  return { id, username: name, global_name: name, discriminator: '0', avatar: null, ...(bot ? { bot } : {}) };
}

export function createState(spec: FakeGuildSpec): FakeDiscordState {
  const guildId = spec.id ?? snowflake();
  const botId = snowflake();
  const owner = snowflake();
  const channels = new Map<string, FakeDiscordChannel>();
  (spec.channels ?? [{ name: 'general' }]).forEach((c, i) => {
    const id = c.id ?? snowflake();
    channels.set(id, {
      id,
      type: ChannelType.GUILD_TEXT,
      name: c.name,
      guild_id: guildId,
      parent_id: null,
      position: i,
      permission_overwrites: [],
    });
  });
  const roles = new Map<string, FakeDiscordRole>();
  // @everyone has the guild's id, as in Discord.
  roles.set(guildId, { id: guildId, name: '@everyone' });
  for (const r of spec.roles ?? []) {
    const id = r.id ?? snowflake();
    roles.set(id, { id, name: r.name });
  }
  return {
    guild: { id: guildId, name: spec.name ?? 'hal-test', owner_id: owner },
    bot: userOf(botId, 'hal-bot', true),
    applicationId: botId,
    channels,
    roles,
    messages: new Map(),
    commands: new Map(),
    interactions: new Map(),
    nonces: new Map(),
  };
}

/** The GUILD_CREATE payload: the guild with its channels, threads, roles and the bot as member. */
export function guildCreatePayload(state: FakeDiscordState): Record<string, unknown> {
  const all = [...state.channels.values()];
  return {
    id: state.guild.id,
    name: state.guild.name,
    icon: null,
    owner_id: state.guild.owner_id,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 0,
    default_message_notifications: 0,
    explicit_content_filter: 0,
    roles: [...state.roles.values()].map((r, i) => ({
      id: r.id,
      name: r.name,
      color: 0,
      hoist: false,
      position: i,
      permissions: r.id === state.guild.id ? '104324673' : '0',
      managed: false,
      mentionable: false,
      flags: 0,
    })),
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    system_channel_id: null,
    system_channel_flags: 0,
    rules_channel_id: null,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    safety_alerts_channel_id: null,
    joined_at: new Date().toISOString(),
    large: false,
    unavailable: false,
    member_count: 2,
    voice_states: [],
    members: [memberOf(state.bot, [])],
    channels: all.filter((c) => c.type === ChannelType.GUILD_TEXT),
    threads: all.filter((c) => c.type !== ChannelType.GUILD_TEXT),
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
  };
}

export function memberOf(user: FakeDiscordUser, roles: readonly string[]): Record<string, unknown> {
  return {
    user,
    nick: null,
    avatar: null,
    roles: [...roles],
    joined_at: new Date(0).toISOString(),
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
    permissions: '2248473465835073',
    communication_disabled_until: null,
  };
}

/** A message as Discord returns it (without the fake's own `history`). */
export function messageView(m: FakeDiscordMessage): Record<string, unknown> {
  const { history: _history, ...rest } = m;
  return rest;
}

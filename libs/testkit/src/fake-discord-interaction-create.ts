// The test-driven user of the fake Discord: the interactions Discord would create when a person
// runs a slash command, types in autocomplete or clicks a button (INTERACTION_CREATE dispatched).
import { randomBytes } from 'node:crypto';
import type { CommandOptionValue, DiscordTestUser } from './fake-discord.ts';
import {
  type FakeDiscordMessage,
  type FakeDiscordState,
  type FakeInteraction,
  memberOf,
  messageView,
  snowflake,
  userOf,
} from './fake-discord-state.ts';

/** Option types a test value must match (string, integer, boolean, number). */
const DEFAULT_CHANNEL_OPTION_TYPES: Record<number, 'string' | 'number' | 'boolean'> = {
  3: 'string',
  4: 'number',
  5: 'boolean',
  10: 'number',
};

export function createInteractions(
  state: FakeDiscordState,
  dispatch: (t: string, d: unknown) => void,
): {
  newInteraction(
    type: number,
    user: DiscordTestUser,
    channelId: string,
    data: Record<string, unknown>,
    message?: FakeDiscordMessage,
  ): FakeInteraction;
  commandData(
    name: string,
    values: Record<string, CommandOptionValue>,
    focused?: string,
  ): Record<string, unknown>;
} {
  function newInteraction(
    type: number,
    user: DiscordTestUser,
    channelId: string,
    data: Record<string, unknown>,
    message?: FakeDiscordMessage,
  ): FakeInteraction {
    const channel = state.channels.get(channelId);
    if (!channel) throw new Error(`fake Discord: no channel ${channelId}`);
    const interaction: FakeInteraction = {
      id: snowflake(),
      token: `aW50ZXJhY3Rpb246${randomBytes(48).toString('base64url')}`,
      type,
      createdAt: Date.now(),
      channelId,
      user: userOf(user.id, user.name),
      followups: [],
      ...(message ? { messageId: message.id } : {}),
    };
    state.interactions.set(interaction.id, interaction);
    dispatch('INTERACTION_CREATE', {
      id: interaction.id,
      application_id: state.applicationId,
      type,
      data,
      guild_id: state.guild.id,
      channel_id: channelId,
      channel,
      member: memberOf(interaction.user, user.roles),
      token: interaction.token,
      version: 1,
      app_permissions: '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': state.guild.id },
      context: 0,
      attachment_size_limit: 10_485_760,
      ...(message ? { message: messageView(message) } : {}),
    });
    return interaction;
  }

  function commandData(name: string, values: Record<string, CommandOptionValue>, focused?: string) {
    const cmd = state.commands.get(name);
    if (!cmd) throw new Error(`fake Discord: /${name} is not a registered guild command`);
    const declared = (cmd.options ?? []) as Array<{ name: string; type: number; required?: boolean }>;
    for (const o of declared) {
      if (o.required && values[o.name] === undefined && o.name !== focused) {
        throw new Error(`fake Discord: /${name} needs option "${o.name}" (Discord would not send it)`);
      }
    }
    const options = Object.entries(values).map(([k, v]) => {
      const decl = declared.find((o) => o.name === k);
      if (!decl) throw new Error(`fake Discord: /${name} has no option "${k}"`);
      const want = DEFAULT_CHANNEL_OPTION_TYPES[decl.type] ?? 'string';
      if (typeof v !== want && !(k === focused && typeof v === 'string')) {
        throw new Error(`fake Discord: option "${k}" of /${name} is a ${want}`);
      }
      return { name: k, type: decl.type, value: v, ...(k === focused ? { focused: true } : {}) };
    });
    return { id: cmd.id, name, type: 1, guild_id: state.guild.id, options };
  }

  return { newInteraction, commandData };
}

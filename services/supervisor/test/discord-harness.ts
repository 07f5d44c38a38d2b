// Issue 11 acceptance, shared set-up: discord.js itself (inside the real supervisor, as
// `channels.discord` configures it) against the testkit's fake Discord; real nats-server, real
// opencode driven by a scripted LLM, a real agent. Each test file starts its own.
import type { SessionView } from '@hal/protocol';
import {
  type CommandOptionValue,
  type DiscordTestUser,
  type FakeDiscord,
  type FakeDiscordChannel,
  type FakeDiscordMessage,
  type FakeInteraction,
  type OpencodeServer,
  type ScriptedLlm,
  startFakeDiscord,
  startOpencode,
  startScriptedLlm,
  waitFor,
} from '@hal/testkit';
import { type Fleet, startAgent, startFleet, type TestAgent } from './fleet-harness.ts';

export const LOADING = 128;
export const EPHEMERAL = 64;

export type Role = 'viewer' | 'operator' | 'admin' | 'stranger';

export interface DiscordFleet {
  llm: ScriptedLlm;
  opencode: OpencodeServer;
  discord: FakeDiscord;
  fleet: Fleet;
  users: Record<Role, DiscordTestUser>;
  /** Runs a slash command as `user`; the answer once it is no longer "thinking…". */
  slash(
    name: string,
    options: Record<string, CommandOptionValue>,
    user: DiscordTestUser,
  ): Promise<FakeDiscordMessage>;
  /** The first thread in #web and the texts posted in it. */
  threadOf(): FakeDiscordChannel | undefined;
  threadTexts(): string[];
  sessionView(id: string): Promise<SessionView>;
  /** Clicks a button; resolves once Discord has the bot's acknowledgement. */
  clickAndWait(
    message: FakeDiscordMessage,
    customId: string,
    user: DiscordTestUser,
  ): Promise<{ click: FakeInteraction; edited: () => boolean }>;
  close(): Promise<void>;
}

/** Everything a message shows, for matching. */
export const text = (m: FakeDiscordMessage) => JSON.stringify([m.content, m.embeds]);
export const buttonsOf = (m: FakeDiscordMessage) =>
  (m.components[0]?.components ?? []) as Array<{ label: string; custom_id: string }>;

export async function startDiscordFleet(): Promise<DiscordFleet> {
  const llm = await startScriptedLlm({ titleText: 'Discord title' });
  // A generous start: real opencode competes for 2 cores with every other test on a CI machine. It
  // starts beside the fake Discord and the supervisor: neither needs it before the agent connects.
  const starting = startOpencode({
    llm,
    projects: [{ name: 'web' }],
    permission: 'ask',
    startTimeoutMs: 120_000,
  });
  // Awaited below; a set-up step failing first must not leave its rejection unhandled.
  starting.catch(() => undefined);
  const discord = await startFakeDiscord({
    guild: {
      channels: [{ name: 'alerts' }, { name: 'dev-log' }, { name: 'web' }, { name: 'reports' }],
      roles: [{ name: 'hal-viewer' }, { name: 'hal-operator' }, { name: 'hal-admin' }],
    },
  });
  const users = {
    viewer: discord.user('vera', [discord.roleId('hal-viewer')]),
    operator: discord.user('otto', [discord.roleId('hal-operator')]),
    admin: discord.user('ada', [discord.roleId('hal-admin')]),
    stranger: discord.user('sam', []),
  };
  const fleet = await startFleet({
    discord: {
      bot_token: discord.token,
      guild_id: discord.guildId,
      channels: { alerts: discord.channelId('alerts'), 'dev-log': discord.channelId('dev-log') },
      roles: {
        viewer: discord.roleId('hal-viewer'),
        operator: discord.roleId('hal-operator'),
        admin: discord.roleId('hal-admin'),
      },
      project_channels: { web: discord.channelId('web') },
      // Hour 0: due at once, so the bridge's first check (at its start) posts yesterday's report.
      daily_report: { channel: discord.channelId('reports'), hour_utc: 0 },
      api_url: discord.apiUrl,
    },
  });
  const [opencode] = await Promise.all([starting, fleet.startSupervisor()]);
  const agent: TestAgent = await startAgent({
    node: 'alpha',
    supervisorUrl: fleet.wsUrl,
    opencodeUrl: opencode.url,
    projects: opencode.projects.filter((p) => p.name === 'web'),
  });
  await waitFor(() => discord.readySockets() === 1 && discord.commands().length === 16, {
    timeoutMs: 20_000,
    message: 'the bot connected and registered its commands',
  });
  const threadOf = () => discord.threads(discord.channelId('web'))[0];
  return {
    llm,
    opencode,
    discord,
    fleet,
    users,
    threadOf,
    threadTexts() {
      const t = threadOf();
      return t ? discord.messages(t.id).map((m) => m.content) : [];
    },
    async slash(name, options, user) {
      const sent = discord.runCommand({ name, options, user });
      return waitFor(
        () => {
          const i = discord.interaction(sent.id);
          const m = i?.originalId === undefined ? undefined : discord.message(i.originalId);
          if (m && (m.flags & LOADING) === 0) return m;
          // An ambiguous target deletes the deferred reply and answers with an ephemeral follow-up.
          return i?.followups.map((id) => discord.message(id)).find((x) => x !== undefined);
        },
        { timeoutMs: 30_000, message: `/${name} answered` },
      );
    },
    async sessionView(id) {
      const r = await fleet.api<{ data: SessionView }>(`/api/v1/sessions/${encodeURIComponent(id)}`);
      return r.body.data;
    },
    async clickAndWait(message, customId, user) {
      const edits = message.history.length;
      const click = discord.clickButton({ messageId: message.id, customId, user });
      await waitFor(() => discord.interaction(click.id)?.callback, {
        timeoutMs: 10_000,
        message: 'click acknowledged',
      });
      return { click, edited: () => message.history.length > edits };
    },
    async close() {
      await agent.stop();
      await fleet.close();
      await discord.stop();
      await opencode.stop();
      await llm.stop();
    },
  };
}

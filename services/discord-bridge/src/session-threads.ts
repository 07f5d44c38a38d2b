import type { JsMsg } from '@hal/bus';
import type { CommandLayer } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import {
  type EventRecord,
  EventType,
  eventRecordSchema,
  messagePartDataSchema,
  toHalError,
} from '@hal/protocol';
import { type APIChannel, ChannelType, type Message, type REST, Routes } from 'discord.js';
import { nonceOf } from './alert-render.ts';
import { type BridgeStore, Key } from './bridge-store.ts';
import type { Outcome } from './durable-consumer.ts';
import { clip, LIMITS } from './embeds.ts';
import { principalOf } from './member-roles.ts';

interface ThreadRecord {
  state: 'creating' | 'ready';
  owner: string;
  at: number;
  thread_id?: string;
  channel_id: string;
}

interface ThreadSession {
  session: string;
  node: string;
  project: string;
}

export interface SessionThreads {
  /** HAL_EVENTS `session.created` and `message.part`: open the thread, post the assistant's text. */
  handle(msg: JsMsg): Promise<Outcome>;
  /** A message someone wrote in a session thread → injected into that session (operators only). */
  onMessage(message: Message): Promise<void>;
}

/** Room for the footer under a clipped reply. */
const TEXT_KEEP = LIMITS.content - 200;

/**
 * Kimaki's way of working for a whole fleet: a thread per session in its project's channel
 * (`project_channels`, opt-in), the assistant's replies posted there, and what an operator
 * writes in the thread injected into the session.
 */
export function createSessionThreads(deps: {
  config: DiscordConfig;
  rest: REST;
  store: BridgeStore;
  layer: CommandLayer;
  log: Logger;
  now: () => number;
  instance: string;
  claimTimeoutMs: number;
}): SessionThreads {
  const { store, log, config } = deps;

  /** The thread of a session, created once across instances (KV create is the claim). */
  async function threadOf(e: EventRecord, channel: string): Promise<string | { retryInMs: number }> {
    const session = e.session!;
    const key = Key.thread(session);
    const mine: ThreadRecord = {
      state: 'creating',
      owner: deps.instance,
      at: deps.now(),
      channel_id: channel,
    };
    if (!(await store.create(key, mine))) {
      const cur = await store.get<ThreadRecord>(key);
      if (cur?.value.state === 'ready' && cur.value.thread_id) return cur.value.thread_id;
      if (cur && deps.now() - cur.value.at < deps.claimTimeoutMs) return { retryInMs: 500 };
      if (!cur || !(await store.update(key, mine, cur.revision))) return { retryInMs: 200 };
    }
    const title = typeof e.data.title === 'string' && e.data.title !== '' ? e.data.title : session;
    const thread = (await deps.rest.post(Routes.threads(channel), {
      body: {
        name: clip(`${e.project} · ${title}`, LIMITS.threadName),
        type: ChannelType.PublicThread,
        auto_archive_duration: 1440,
      },
    })) as APIChannel;
    await store.put(Key.threadSession(thread.id), {
      session,
      node: e.node,
      project: e.project,
    } satisfies ThreadSession);
    await store.put(key, { ...mine, state: 'ready', thread_id: thread.id } satisfies ThreadRecord);
    await deps.rest.post(Routes.channelMessages(thread.id), {
      body: {
        content: `Session \`${session}\` on **${e.node}**. What you write here is sent to the session (operators).\n\`halctl sessions logs ${session}\``,
        nonce: nonceOf(`thread-intro|${session}`),
        enforce_nonce: true,
        allowed_mentions: { parse: [] },
      },
    });
    log.info({ session, thread: thread.id }, 'session thread opened');
    return thread.id;
  }

  async function handle(msg: JsMsg): Promise<Outcome> {
    const parsed = eventRecordSchema.safeParse(msg.json());
    if (!parsed.success) return 'drop';
    const e = parsed.data;
    const channel = config.project_channels[e.project];
    if (channel === undefined || e.session === null) return 'done';
    if (e.type === EventType.SESSION_CREATED) {
      const t = await threadOf(e, channel);
      return typeof t === 'string' ? 'done' : t;
    }
    if (e.type !== EventType.MESSAGE_PART) return 'done';
    const part = messagePartDataSchema.safeParse(e.data);
    if (!part.success || part.data.role !== 'assistant' || part.data.part_type !== 'text') return 'done';
    const text = part.data.text?.trim() ?? '';
    if (text === '') return 'done';
    const t = await threadOf(e, channel);
    if (typeof t !== 'string') return t;
    await deps.rest.post(Routes.channelMessages(t), {
      body: {
        content: `${clip(text, TEXT_KEEP)}\n-# session \`${e.session}\` · \`halctl sessions logs ${e.session}\``,
        // The event id makes the post idempotent: a redelivery after a crash is one message.
        nonce: nonceOf(e.id),
        enforce_nonce: true,
        allowed_mentions: { parse: [] },
      },
    });
    return 'done';
  }

  async function onMessage(message: Message): Promise<void> {
    if (message.author.bot || !message.channel.isThread()) return;
    const link = await store.get<ThreadSession>(Key.threadSession(message.channelId));
    if (!link) return;
    // Every instance sees the message; the one that claims it injects it.
    if (!(await store.create(Key.message(message.id), { owner: deps.instance, at: deps.now() }))) return;
    const roles = message.member ? [...message.member.roles.cache.keys()] : [];
    const principal = principalOf(
      config.roles,
      { id: message.author.id, name: message.author.globalName ?? message.author.username },
      roles,
    );
    try {
      if (message.content.trim() === '') return;
      // The command layer checks the role and audits the attempt, a refusal included; the
      // reply below then says why nothing happened.
      await deps.layer.act(principal, 'inject', link.value.session, { prompt: message.content });
      await message.react('📨').catch(() => undefined);
    } catch (err) {
      const e = toHalError(err);
      await message
        .reply({ content: `❌ \`${e.code}\` ${clip(e.message, 1500)}`, allowedMentions: { parse: [] } })
        .catch(() => undefined);
    }
  }

  return { handle, onMessage };
}

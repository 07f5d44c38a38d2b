import type { Logger } from '@hal/observability';
import type { Notification, SessionView } from '@hal/protocol';
import { DiscordAPIError, type REST, Routes } from 'discord.js';
import { type AlertRecord, buttons, permissionOf, renderAlert, verbsOf } from './alert-render.ts';
import { type BridgeStore, Key } from './bridge-store.ts';

/**
 * One message per run of alike notifications (KV `f.<key>`): the policy service collapses a
 * flood into its first notification plus a `<kind>.digest` per window, and the digest — or the
 * next window's first while the flood goes on — edits that message in place (count, latest
 * details, cost so far) instead of posting another.
 */
interface FoldRecord {
  channel_id: string;
  message_id: string;
  /** The alert whose buttons the message carries (KV `n.<alert_id>`). */
  alert_id: string;
  /** The latest non-digest notification of the run: what the message shows. */
  base: Notification;
  /** Notifications this message stands for (the first, the collapsed ones, the repeats). */
  count: number;
  first_at: number;
  last_at: number;
  /** When a digest last arrived: the flood is going on, so a repeat folds in too. */
  last_digest_at?: number;
  /** The last notification ids applied, so a redelivered one is not counted twice. */
  ids: string[];
}

/** What makes notifications alike: the policy's own collapse key (route, kind, session or node). */
function foldKeyOf(n: Notification): string {
  const kind = n.kind.replace(/\.digest$/, '');
  const subject = n.session ?? `node:${n.node ?? '-'}`;
  const permission = kind === 'permission.asked' ? (permissionOf(n) ?? '') : '';
  return `${n.route}|${kind}|${subject}|${permission}`;
}

const isDigest = (n: Notification) => n.kind.endsWith('.digest');
const KEEP_IDS = 32;

export interface AlertFolds {
  /** The message a later digest or repeat edits: `messageId`, until another run starts. */
  start(n: Notification, channel: string, messageId: string): Promise<void>;
  /**
   * Edits the message of `n`'s run (a digest, or a repeat while a flood goes on); false when
   * `n` must be posted instead.
   */
  foldInto(n: Notification, fresh: AlertRecord): Promise<boolean>;
}

/** The collapse/edit side of alerts: many alike notifications, one Discord message edited in place. */
export function createAlertFolds(deps: {
  store: BridgeStore;
  rest: REST;
  log: Logger;
  now: () => number;
  /** A repeat this soon after a digest folds into the flood's message. */
  foldAfterDigestMs: number;
  /** The session's view for the embed (duration, cost), or undefined. */
  sessionOf(id: string | undefined): Promise<SessionView | undefined>;
}): AlertFolds {
  const { store, log, foldAfterDigestMs, sessionOf } = deps;

  /** The message a later digest or repeat edits: this one, until another run starts. */
  async function start(n: Notification, channel: string, messageId: string): Promise<void> {
    const t = deps.now();
    const record: FoldRecord = {
      channel_id: channel,
      message_id: messageId,
      alert_id: n.id,
      base: n,
      count: n.count,
      first_at: t,
      last_at: t,
      ids: [n.id],
    };
    await store.put(Key.fold(foldKeyOf(n)), record);
  }

  /**
   * A digest (or a repeat while a flood goes on) edits the message of its run; false when it
   * must be posted: nothing to fold into, the run handled and over, the message deleted.
   */
  async function foldInto(n: Notification, fresh: AlertRecord): Promise<boolean> {
    const key = Key.fold(foldKeyOf(n));
    for (;;) {
      const cur = await store.get<FoldRecord>(key);
      if (!cur || cur.value.channel_id !== fresh.channel_id) return false;
      const f = cur.value;
      const t = deps.now();
      const alert = (await store.get<AlertRecord>(Key.alert(f.alert_id)))?.value;
      if (!isDigest(n)) {
        // A repeat joins only a flood that is still going on and that nobody has handled yet.
        const flooding = f.last_digest_at !== undefined && t - f.last_digest_at < foldAfterDigestMs;
        if (!flooding || alert?.handled) return false;
      }
      const seen = f.ids.includes(n.id);
      const next: FoldRecord = {
        ...f,
        base: isDigest(n) ? f.base : n,
        count: seen ? f.count : f.count + n.count,
        last_at: seen ? f.last_at : t,
        ...(isDigest(n) ? { last_digest_at: t } : {}),
        ids: seen ? f.ids : [...f.ids, n.id].slice(-KEEP_IDS),
      };
      // Two instances folding at once: the one whose compare-and-set lost reads again.
      if (!(await store.update(key, next, cur.revision))) continue;
      const session = await sessionOf(next.base.session);
      const body = {
        embeds: [
          renderAlert(next.base, session, t, {
            count: next.count,
            lastAt: next.last_at,
            ...(alert?.handled ? { handled: alert.handled } : {}),
          }),
        ],
        // A handled alert keeps its buttons only if the action failed (someone may try again).
        components: alert?.handled?.ok ? [] : buttons(f.alert_id, alert?.verbs ?? verbsOf(f.base)),
        allowed_mentions: { parse: [] },
      };
      try {
        await deps.rest.patch(Routes.channelMessage(f.channel_id, f.message_id), { body });
      } catch (err) {
        // Someone deleted the message: this notification starts a new one.
        if (err instanceof DiscordAPIError && err.code === 10008) return false;
        throw err;
      }
      await store.put(Key.alert(n.id), {
        ...fresh,
        state: 'posted',
        message_id: f.message_id,
        folded_into: f.alert_id,
      } satisfies AlertRecord);
      log.info(
        { notification: n.id, message: f.message_id, kind: n.kind, count: next.count },
        'alert collapsed into the message already posted',
      );
      return true;
    }
  }

  return { start, foldInto };
}

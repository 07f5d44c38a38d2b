import { createHash } from 'node:crypto';
import type { JsMsg } from '@hal/bus';
import type { CommandLayer, Principal } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { type Notification, notificationSchema, type SessionView, TrackerQuery } from '@hal/protocol';
import {
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  type APIMessage,
  type ButtonInteraction,
  ButtonStyle,
  ComponentType,
  DiscordAPIError,
  type REST,
  Routes,
} from 'discord.js';
import { type BridgeMetrics, createBridgeMetrics } from './bridge-metrics.ts';
import { type BridgeStore, Key } from './bridge-store.ts';
import type { Outcome } from './durable-consumer.ts';
import { Colour, clip, embed, since, usd } from './embeds.ts';
import { describeError, restartOutcome } from './replies.ts';

/** What a button on an alert does. */
export const AlertVerb = {
  ONCE: 'once',
  ALWAYS: 'always',
  REJECT: 'reject',
  RESUME: 'resume',
  RESTART: 'restart',
  KILL: 'kill',
  ACK: 'ack',
} as const;
export type AlertVerb = (typeof AlertVerb)[keyof typeof AlertVerb];

const LABEL: Record<AlertVerb, string> = {
  once: 'Approve once',
  always: 'Always',
  reject: 'Reject',
  resume: 'Resume',
  restart: 'Restart',
  kill: 'Kill',
  ack: 'Acknowledge',
};
const DONE = { resume: 'resumed', kill: 'killed' } as const;
const STYLE: Record<
  AlertVerb,
  ButtonStyle.Primary | ButtonStyle.Secondary | ButtonStyle.Success | ButtonStyle.Danger
> = {
  once: ButtonStyle.Success,
  always: ButtonStyle.Primary,
  reject: ButtonStyle.Danger,
  resume: ButtonStyle.Primary,
  restart: ButtonStyle.Secondary,
  kill: ButtonStyle.Danger,
  ack: ButtonStyle.Secondary,
};

/** `al:<verb>:<notification id>`: 40 characters, well inside Discord's 100 for a custom_id. */
export const alertCustomId = (verb: AlertVerb, id: string) => `al:${verb}:${id}`;
export function parseAlertCustomId(customId: string): { verb: AlertVerb; id: string } | undefined {
  const m = /^al:(once|always|reject|resume|restart|kill|ack):([0-9a-f-]{36})$/.exec(customId);
  return m ? { verb: m[1] as AlertVerb, id: m[2]! } : undefined;
}

/**
 * Discord's nonce is at most 25 characters; the notification id is 36. A digest of the id keeps
 * it stable across instances and restarts, which is what makes `enforce_nonce` deduplicate.
 */
export function nonceOf(notificationId: string): string {
  return `h${createHash('sha256').update(notificationId).digest('base64url').slice(0, 24)}`;
}

/** What the bridge remembers about a posted alert (KV `n.<id>`), so a click can act and edit it. */
export interface AlertRecord {
  state: 'posting' | 'posted';
  owner: string;
  at: number;
  channel_id: string;
  message_id?: string;
  kind: string;
  title: string;
  node?: string;
  project?: string;
  session?: string;
  permission?: string;
  verbs: AlertVerb[];
  /** Set once a button ran: who (name and Discord id), what, how it went. */
  handled?: Handled;
  /** A repeat collapsed into the message of this earlier alert instead of posting its own. */
  folded_into?: string;
}

interface Handled {
  by: string;
  by_id?: string;
  verb: AlertVerb;
  ok: boolean;
  text: string;
  at: number;
}

/**
 * One message per run of alike notifications (KV `f.<key>`): the policy service collapses a
 * flood into its first notification plus a `<kind>.digest` per window, and the digest — or the
 * next window's first while the flood goes on — edits that message in place (count, latest
 * details, cost so far) instead of posting another.
 */
export interface FoldRecord {
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
export function foldKeyOf(n: Notification): string {
  const kind = n.kind.replace(/\.digest$/, '');
  const subject = n.session ?? `node:${n.node ?? '-'}`;
  const permission = kind === 'permission.asked' ? (permissionOf(n) ?? '') : '';
  return `${n.route}|${kind}|${subject}|${permission}`;
}

const isDigest = (n: Notification) => n.kind.endsWith('.digest');
const KEEP_IDS = 32;

/** The Result field of a handled alert: what ran and who did it. */
function resultField(h: Handled) {
  return {
    name: 'Result',
    value: `${h.ok ? '✅' : '❌'} ${clip(h.text, 900)} — by ${h.by}${h.by_id ? ` (<@${h.by_id}>)` : ''}`,
    inline: false,
  };
}

function permissionOf(n: Notification): string | undefined {
  for (const a of n.actions) {
    const m = /\/permissions\/([^/]+)$/.exec(a.command.path);
    if (m) return decodeURIComponent(m[1]!);
  }
  return undefined;
}

/** The buttons of an alert, from what it is about: a permission, a stuck session, a budget. */
export function verbsOf(n: Notification): AlertVerb[] {
  const kind = n.kind.replace(/\.digest$/, '');
  if (kind === 'permission.asked' && n.session && permissionOf(n)) return ['once', 'always', 'reject'];
  if (kind.startsWith('cost.')) return n.session ? ['kill', 'ack'] : ['ack'];
  const stuck =
    ['session.idle', 'session.error', 'session.compacted'].includes(kind) || kind.startsWith('policy.');
  if (stuck && n.session) return ['resume', 'restart', 'kill'];
  return [];
}

function buttons(
  id: string,
  verbs: readonly AlertVerb[],
  disabled = false,
): APIActionRowComponent<APIButtonComponent>[] {
  if (verbs.length === 0) return [];
  return [
    {
      type: ComponentType.ActionRow,
      components: verbs.map((v) => ({
        type: ComponentType.Button,
        style: STYLE[v],
        label: LABEL[v],
        custom_id: alertCustomId(v, id),
        disabled,
      })),
    },
  ];
}

export function renderAlert(
  n: Notification,
  session: SessionView | undefined,
  now: number,
  fold?: { count: number; lastAt: number; handled?: Handled },
): APIEmbed {
  const fields: Array<{ name: string; value: string; inline?: boolean }> = [];
  const shown = new Set<string>();
  const add = (name: string, value: string | undefined) => {
    if (value === undefined || value === '' || shown.has(name)) return;
    shown.add(name);
    fields.push({ name, value });
  };
  add('Node', n.node);
  add('Project', n.project);
  add('Session', n.session === undefined ? undefined : `\`${n.session}\``);
  if (session) {
    add('Running for', since(session.started_at, now));
    add('Cost so far', usd(session.cost_usd));
    add('State', session.state);
  }
  for (const f of n.fields) {
    if (['Session', 'Host', 'Project'].includes(f.name)) continue;
    add(f.name, f.value);
  }
  const count = fold?.count ?? n.count;
  if (count > 1) {
    add(
      'Collapsed',
      fold ? `${count} alike, the last <t:${Math.floor(fold.lastAt / 1000)}:R>` : `${count} alike`,
    );
  }
  if (fold?.handled) fields.push(resultField(fold.handled));
  const colour = fold?.handled ? (fold.handled.ok ? Colour.ok : Colour.critical) : Colour[n.severity];
  return embed({
    title: n.title,
    description: n.body,
    colour,
    fields,
    footer: `${n.kind} · ${n.id}`,
    timestamp: n.time,
  });
}

export interface AlertDeps {
  config: DiscordConfig;
  rest: REST;
  store: BridgeStore;
  layer: CommandLayer;
  log: Logger;
  now: () => number;
  /** This instance, in claims. */
  instance: string;
  /** A claim older than this, still `posting`, is taken over (its owner died mid-post). */
  claimTimeoutMs: number;
  /** A repeat this soon after a digest folds into the flood's message. Default 2 min. */
  foldAfterDigestMs?: number;
  metrics?: BridgeMetrics;
}

export interface Alerts {
  /** One HAL_NOTIFY message → one Discord message, at most once across instances and restarts. */
  handle(msg: JsMsg): Promise<Outcome>;
  onButton(interaction: ButtonInteraction, principal: Principal): Promise<void>;
}

export function createAlerts(deps: AlertDeps): Alerts {
  const { store, log } = deps;
  const metrics = deps.metrics ?? createBridgeMetrics(undefined);
  const foldAfterDigestMs = deps.foldAfterDigestMs ?? 120_000;

  async function sessionOf(id: string | undefined): Promise<SessionView | undefined> {
    if (id === undefined) return undefined;
    try {
      return await deps.layer.tracker.query(TrackerQuery.SESSIONS_GET, { session: id });
    } catch {
      // The alert goes out without duration and cost rather than not at all.
      return undefined;
    }
  }

  async function post(n: Notification, record: AlertRecord): Promise<APIMessage> {
    const session = await sessionOf(n.session);
    const body = {
      embeds: [renderAlert(n, session, deps.now())],
      components: buttons(n.id, record.verbs),
      nonce: nonceOf(n.id),
      // Two instances (or one retrying after a lost answer) posting the same alert get one message.
      enforce_nonce: true,
      allowed_mentions: { parse: [] },
    };
    return (await deps.rest.post(Routes.channelMessages(record.channel_id), { body })) as APIMessage;
  }

  async function handle(msg: JsMsg): Promise<Outcome> {
    let n: Notification;
    try {
      n = notificationSchema.parse(msg.json());
    } catch {
      log.warn({ seq: msg.seq, subject: msg.subject }, 'notification does not match the schema; skipped');
      metrics.notification('skipped');
      return 'drop';
    }
    const channel = deps.config.channels[n.route];
    if (channel === undefined) {
      log.error(
        { route: n.route, notification: n.id },
        'no channels.discord.channels entry for this route; skipped',
      );
      metrics.notification('skipped');
      return 'drop';
    }
    const key = Key.alert(n.id);
    const fresh: AlertRecord = {
      state: 'posting',
      owner: deps.instance,
      at: deps.now(),
      channel_id: channel,
      kind: n.kind,
      title: n.title,
      verbs: verbsOf(n),
      ...(n.node === undefined ? {} : { node: n.node }),
      ...(n.project === undefined ? {} : { project: n.project }),
      ...(n.session === undefined ? {} : { session: n.session }),
      ...(permissionOf(n) === undefined ? {} : { permission: permissionOf(n) }),
    };
    if (!(await store.create(key, fresh))) {
      const cur = await store.get<AlertRecord>(key);
      if (cur === undefined) return { retryInMs: 200 };
      if (cur.value.state === 'posted') {
        metrics.notification('skipped');
        return 'done';
      }
      // Someone else is posting it right now: wait for them. Only a claim that went stale (its
      // owner died mid-post) is taken over — and the same nonce makes a double post impossible.
      if (cur.value.owner !== deps.instance && deps.now() - cur.value.at < deps.claimTimeoutMs) {
        return { retryInMs: 1_000 };
      }
      if (!(await store.update(key, fresh, cur.revision))) return { retryInMs: 200 };
    }
    try {
      if (await foldInto(n, fresh)) {
        metrics.notification('edited');
        return 'done';
      }
      const message = await post(n, fresh);
      await store.put(key, { ...fresh, state: 'posted', message_id: message.id } satisfies AlertRecord);
      await startFold(n, channel, message.id);
      metrics.notification('posted');
      log.info({ notification: n.id, message: message.id, kind: n.kind }, 'alert posted');
      return 'done';
    } catch (err) {
      // Discord unreachable or refusing: the durable consumer retries this message in place.
      metrics.notification('failed');
      throw err;
    }
  }

  /** The message a later digest or repeat edits: this one, until another run starts. */
  async function startFold(n: Notification, channel: string, messageId: string): Promise<void> {
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

  async function run(verb: AlertVerb, r: AlertRecord, principal: Principal): Promise<string> {
    const session = r.session ?? '';
    switch (verb) {
      case 'once':
      case 'always':
      case 'reject': {
        await deps.layer.answerPermission(principal, session, verb, r.permission);
        return verb === 'reject' ? 'permission rejected' : `permission approved (${verb})`;
      }
      case 'restart': {
        const res = await deps.layer.act(principal, verb, session);
        return `${restartOutcome(res.session, res.data)} on ${res.node}`;
      }
      case 'resume':
      case 'kill': {
        const res = await deps.layer.act(principal, verb, session);
        return `${DONE[verb]} session \`${res.session}\` on ${res.node}`;
      }
      case 'ack':
        await deps.layer.audited(
          principal,
          {
            action: 'alert.acknowledge',
            role: 'operator',
            target: { alert: r.title, ...(r.session ? { session } : {}) },
          },
          async () => undefined,
        );
        return 'acknowledged';
    }
  }

  async function onButton(interaction: ButtonInteraction, principal: Principal): Promise<void> {
    const parsed = parseAlertCustomId(interaction.customId);
    if (!parsed) return;
    const key = Key.alert(parsed.id);
    const cur = await store.get<AlertRecord>(key);
    if (cur?.value.state !== 'posted') {
      await interaction.followUp({ content: 'This alert is no longer known to HAL.', flags: 64 });
      return;
    }
    const record = cur.value;
    let ok = true;
    let text: string;
    try {
      text = await run(parsed.verb, record, principal);
    } catch (err) {
      ok = false;
      text = describeError(err);
      if (/FORBIDDEN/.test(text)) {
        // A refusal is for the one who clicked: the alert stays as it was, buttons and all.
        await interaction.followUp({ content: `🚫 ${text}`, flags: 64 });
        return;
      }
    }
    const handled: Handled = {
      by: principal.name,
      by_id: principal.id,
      verb: parsed.verb,
      ok,
      text,
      at: deps.now(),
    };
    await store.put(key, { ...record, handled });
    const old = interaction.message.embeds[0]?.toJSON() ?? { title: record.title };
    const result = embed({
      title: old.title ?? record.title,
      ...(old.description ? { description: old.description } : {}),
      colour: ok ? Colour.ok : Colour.critical,
      fields: [...(old.fields ?? []).filter((f) => f.name !== 'Result'), resultField(handled)],
      ...(old.footer?.text ? { footer: old.footer.text } : {}),
      ...(old.timestamp ? { timestamp: old.timestamp } : {}),
    });
    // A failed action keeps its buttons (someone may try again); a done one loses them.
    await interaction.editReply({ embeds: [result], components: ok ? [] : buttons(parsed.id, record.verbs) });
  }

  return { handle, onButton };
}

import { createHash } from 'node:crypto';
import type { Notification, SessionView } from '@hal/protocol';
import {
  type APIActionRowComponent,
  type APIButtonComponent,
  type APIEmbed,
  ButtonStyle,
  ComponentType,
} from 'discord.js';
import { Colour, clip, embed, since, usd } from './embeds.ts';

// How an alert looks: its embed, its buttons and what the bridge remembers about it.

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

export interface Handled {
  by: string;
  by_id?: string;
  verb: AlertVerb;
  ok: boolean;
  text: string;
  at: number;
}

/** The Result field of a handled alert: what ran and who did it. */
export function resultField(h: Handled) {
  return {
    name: 'Result',
    value: `${h.ok ? '✅' : '❌'} ${clip(h.text, 900)} — by ${h.by}${h.by_id ? ` (<@${h.by_id}>)` : ''}`,
    inline: false,
  };
}

export function permissionOf(n: Notification): string | undefined {
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

export function buttons(
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

import type { JsMsg } from '@hal/bus';
import type { CommandLayer, Principal } from '@hal/commands';
import type { DiscordConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { type Notification, notificationSchema, type SessionView, TrackerQuery } from '@hal/protocol';
import { type APIMessage, type ButtonInteraction, type REST, Routes } from 'discord.js';
import { createAlertFolds } from './alert-folds.ts';
import {
  type AlertRecord,
  type AlertVerb,
  buttons,
  type Handled,
  nonceOf,
  parseAlertCustomId,
  permissionOf,
  renderAlert,
  resultField,
  verbsOf,
} from './alert-render.ts';
import { type BridgeMetrics, createBridgeMetrics } from './bridge-metrics.ts';
import { type BridgeStore, Key } from './bridge-store.ts';
import type { Outcome } from './durable-consumer.ts';
import { Colour, embed } from './embeds.ts';
import { describeError, restartOutcome } from './replies.ts';

const DONE = { resume: 'resumed', kill: 'killed' } as const;

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
  const folds = createAlertFolds({
    store,
    rest: deps.rest,
    log,
    now: deps.now,
    foldAfterDigestMs: deps.foldAfterDigestMs ?? 120_000,
    sessionOf: (id) => sessionOf(id),
  });

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
      if (await folds.foldInto(n, fresh)) {
        metrics.notification('edited');
        return 'done';
      }
      const message = await post(n, fresh);
      await store.put(key, { ...fresh, state: 'posted', message_id: message.id } satisfies AlertRecord);
      await folds.start(n, channel, message.id);
      metrics.notification('posted');
      log.info({ notification: n.id, message: message.id, kind: n.kind }, 'alert posted');
      return 'done';
    } catch (err) {
      // Discord unreachable or refusing: the durable consumer retries this message in place.
      metrics.notification('failed');
      throw err;
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

import type { JetStreamClient } from '@hal/bus';
import type { RouteRule, WebhookConfig } from '@hal/config';
import type { HalMetrics, Logger } from '@hal/observability';
import {
  type EventRecord,
  type Notification,
  notificationSchema,
  SCHEMA_VERSION,
  subjects,
} from '@hal/protocol';
import { type Content, contentOf, stableUuid } from './notification-content.ts';
import { type RouteTarget, routeEvent, severityOf } from './router.ts';
import { KeyPrefix, keyOf, type StateStore } from './state-store.ts';

export interface NotifierOptions {
  /** One notification per (target, kind, session or node) in this window; the rest go into a digest. */
  collapseWindowMs: number;
  /** Events older than this are never notified: a restart or a replay does not re-send old news. */
  maxEventAgeMs: number;
  /** Delays between webhook attempts; its length + 1 is the number of attempts. */
  webhookBackoffMs: readonly number[];
}

export interface Notifier {
  onEvent(event: EventRecord): Promise<void>;
  /** Sends the digests of windows that have closed. */
  tick(): Promise<void>;
  /** Waits for webhook deliveries still retrying. */
  drain(): Promise<void>;
}

/** The collapse state of one key; the first notification of a window goes out, the rest are counted. */
interface CollapseState {
  window_start: number;
  suppressed: number;
  target: string;
  sample: Content & { node: string; project: string; session: string | null };
}

type Fetch = typeof globalThis.fetch;

export function createNotifier(deps: {
  js: JetStreamClient;
  store: StateStore;
  routes: readonly RouteRule[];
  webhooks: Readonly<Record<string, WebhookConfig>>;
  log: Logger;
  metrics: HalMetrics;
  now: () => number;
  fetch: Fetch;
  options: NotifierOptions;
}): Notifier {
  const { store, log, metrics, options } = deps;
  const inFlight = new Set<Promise<void>>();

  function channelOf(target: RouteTarget) {
    return target.kind === 'discord' ? 'discord' : 'webhook';
  }

  async function postWebhook(target: RouteTarget, n: Notification): Promise<void> {
    const hook = deps.webhooks[target.name];
    if (hook === undefined) {
      metrics.notificationsTotal.inc({ channel: 'webhook', outcome: 'dropped' });
      log.error({ webhook: target.name }, 'webhook target not configured');
      return;
    }
    const attempts = options.webhookBackoffMs.length + 1;
    for (let i = 0; i < attempts; i++) {
      try {
        const res = await deps.fetch(hook.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hal-notification-id': n.id, ...hook.headers },
          body: JSON.stringify(n),
          signal: AbortSignal.timeout(10_000),
        });
        // 4xx other than 408/429 will not get better by retrying.
        if (res.ok || (res.status < 500 && res.status !== 408 && res.status !== 429)) {
          metrics.notificationsTotal.inc({ channel: 'webhook', outcome: res.ok ? 'sent' : 'failed' });
          if (!res.ok) log.warn({ webhook: target.name, status: res.status }, 'webhook refused notification');
          return;
        }
        log.warn({ webhook: target.name, status: res.status, attempt: i + 1 }, 'webhook delivery failed');
      } catch (err) {
        log.warn({ err, webhook: target.name, attempt: i + 1 }, 'webhook delivery failed');
      }
      const delay = options.webhookBackoffMs[i];
      if (delay !== undefined) await new Promise((r) => setTimeout(r, delay));
    }
    metrics.notificationsTotal.inc({ channel: 'webhook', outcome: 'failed' });
  }

  async function deliver(target: RouteTarget, n: Notification): Promise<void> {
    if (target.kind === 'webhook') {
      // Retries must not hold up the event consumer: the POST runs on its own, tracked for stop().
      const p = postWebhook(target, n).finally(() => inFlight.delete(p));
      inFlight.add(p);
      return;
    }
    // Nats-Msg-Id = notification id: a redelivered event re-publishes the same id, stored once.
    await deps.js.publish(subjects.notify(channelOf(target), target.name), JSON.stringify(n), {
      msgID: n.id,
    });
    metrics.notificationsTotal.inc({ channel: 'discord', outcome: 'sent' });
  }

  function build(id: string, target: RouteTarget, c: CollapseState['sample'], count = 1): Notification {
    return notificationSchema.parse({
      version: SCHEMA_VERSION,
      id,
      time: new Date(deps.now()).toISOString(),
      channel: channelOf(target),
      route: target.name,
      severity: c.severity,
      kind: c.kind,
      title: c.title,
      body: c.body,
      fields: c.fields,
      actions: c.actions,
      node: c.node,
      ...(c.project === '' ? {} : { project: c.project }),
      ...(c.session === null ? {} : { session: c.session }),
      count,
    });
  }

  function digestOf(key: string, s: CollapseState, target: RouteTarget): Notification {
    const seconds = Math.round(options.collapseWindowMs / 1000);
    return build(
      stableUuid(`digest|${key}|${s.window_start}`),
      target,
      {
        ...s.sample,
        title: `${s.suppressed} more: ${s.sample.title}`.slice(0, 256),
        body: `${s.suppressed} more notifications like this one in ${seconds} s were collapsed into this digest.\nFirst: ${s.sample.body}`.slice(
          0,
          4000,
        ),
        kind: `${s.sample.kind}.digest`,
      },
      s.suppressed,
    );
  }

  async function onEvent(event: EventRecord): Promise<void> {
    const severity = severityOf(event);
    const targets = routeEvent(deps.routes, event, severity);
    if (targets.length === 0) return;
    const now = deps.now();
    if (now - Date.parse(event.time) > options.maxEventAgeMs) {
      metrics.notificationsTotal.inc({ channel: 'any', outcome: 'too_old' }, targets.length);
      return;
    }
    const content = contentOf(event, severity);
    const sample = { ...content, node: event.node, project: event.project, session: event.session };
    for (const target of targets) {
      const subject = event.session ?? `node:${event.node}`;
      const key = keyOf(KeyPrefix.NOTIFY, target.id, content.kind, subject);
      const decision = await store.mutate<CollapseState, { send: boolean; digest?: CollapseState }>(
        key,
        (cur) => {
          if (cur === undefined || now - cur.window_start >= options.collapseWindowMs) {
            const fresh: CollapseState = { window_start: now, suppressed: 0, target: target.id, sample };
            return {
              value: fresh,
              result: { send: true, ...(cur && cur.suppressed > 0 ? { digest: cur } : {}) },
            };
          }
          return { value: { ...cur, suppressed: cur.suppressed + 1 }, result: { send: false } };
        },
      );
      if (decision.digest) await deliver(target, digestOf(key, decision.digest, target));
      if (!decision.send) {
        metrics.notificationsTotal.inc({ channel: channelOf(target), outcome: 'collapsed' });
        continue;
      }
      await deliver(target, build(stableUuid(`${event.id}|${target.id}`), target, sample));
    }
  }

  async function tick(): Promise<void> {
    const now = deps.now();
    for (const key of await store.keys(KeyPrefix.NOTIFY)) {
      const due = await store.mutate<CollapseState, CollapseState | null>(key, (cur) => {
        if (cur === undefined || cur.suppressed === 0 || now - cur.window_start < options.collapseWindowMs) {
          return { result: null };
        }
        // The next window starts now, so a flood that goes on gives one digest per window.
        return { value: { ...cur, window_start: now, suppressed: 0 }, result: cur };
      });
      if (due === null) continue;
      const target = routeTargetOf(due.target);
      if (target) await deliver(target, digestOf(key, due, target));
    }
  }

  return {
    onEvent,
    tick,
    async drain() {
      await Promise.allSettled([...inFlight]);
    },
  };
}

function routeTargetOf(id: string): RouteTarget | undefined {
  const [kind, name] = id.split('#');
  if ((kind !== 'discord' && kind !== 'webhook') || !name) return undefined;
  return { kind, name, id };
}

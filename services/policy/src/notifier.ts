import type { JetStreamClient } from '@hal/bus';
import type { RouteRule, WebhookConfig } from '@hal/config';
import type { HalMetrics, Logger } from '@hal/observability';
import {
  controlPlaneTime,
  type EventRecord,
  type Notification,
  notificationSchema,
  SCHEMA_VERSION,
  type Severity,
  subjects,
} from '@hal/protocol';
import { type Content, contentOf, stableUuid } from './notification-content.ts';
import {
  type ConditionCheck,
  type ConditionDeps,
  compare,
  describeComparison,
  evaluateWhen,
  ruleKey,
  stateSince,
} from './route-conditions.ts';
import { matchingRules, type RouteTarget, severityOf } from './router.ts';
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
  /**
   * For a batch of events: onEvent as above, except that notifications of plain routes are
   * counted per collapse key and written (one compare-and-set a key) and delivered at `flush`.
   */
  batch(): NotifyBatch;
  /** Sends the digests of windows that have closed. */
  tick(): Promise<void>;
  /** Waits for webhook deliveries still retrying. */
  drain(): Promise<void>;
}

export interface NotifyBatch {
  onEvent(event: EventRecord): Promise<void>;
  flush(): Promise<void>;
}

/** Plain notifications a batch holds, by collapse key: the first one's content and id, and how many. */
type Held = Map<string, { target: RouteTarget; sample: CollapseState['sample']; id: string; count: number }>;

/** A conditional route waiting for the duration of a state (KV `np.<rule>.<subject>`). */
interface PendingRoute {
  rule: string;
  event: EventRecord;
  /** ms; when the state began, as known when the event was handled. */
  since: number;
  target: string;
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
  /** Where `when` conditions read their facts. */
  conditions: ConditionDeps;
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
          // The URL and headers may hold the hook's secret: a redirect is a refusal, never followed.
          redirect: 'manual',
          signal: AbortSignal.timeout(10_000),
        });
        // Only the status matters; cancelling the body frees the connection for the next POST.
        await res.body?.cancel().catch(() => undefined);
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

  /**
   * Counts `count` notifications of one collapse key in its window (one compare-and-set), then
   * delivers what that decided: the digest of the window it closed, and the first of a new one.
   */
  async function collapseAndDeliver(
    key: string,
    target: RouteTarget,
    sample: CollapseState['sample'],
    id: string,
    count: number,
  ): Promise<void> {
    const now = deps.now();
    const decision = await store.mutate<CollapseState, { send: boolean; digest?: CollapseState }>(
      key,
      (cur) => {
        if (cur === undefined || now - cur.window_start >= options.collapseWindowMs) {
          const fresh: CollapseState = {
            window_start: now,
            suppressed: count - 1,
            target: target.id,
            sample,
          };
          return {
            value: fresh,
            result: { send: true, ...(cur && cur.suppressed > 0 ? { digest: cur } : {}) },
          };
        }
        return { value: { ...cur, suppressed: cur.suppressed + count }, result: { send: false } };
      },
    );
    if (decision.digest) await deliver(target, digestOf(key, decision.digest, target));
    const collapsed = decision.send ? count - 1 : count;
    if (collapsed > 0) {
      metrics.notificationsTotal.inc({ channel: channelOf(target), outcome: 'collapsed' }, collapsed);
    }
    if (decision.send) await deliver(target, build(id, target, sample));
  }

  /**
   * Collapse, then deliver, one notification of `event` per target. With `held` (a batch's plain
   * routes), they are only counted per collapse key, written and delivered at the batch's flush.
   */
  async function notify(
    event: EventRecord,
    severity: Severity,
    targets: readonly RouteTarget[],
    extra?: { idSuffix: string; fields: Content['fields'] },
    held?: Held,
  ): Promise<void> {
    const content = contentOf(event, severity);
    if (extra) content.fields = [...content.fields, ...extra.fields];
    const sample = { ...content, node: event.node, project: event.project, session: event.session };
    for (const target of targets) {
      const subject = event.session ?? `node:${event.node}`;
      const key = keyOf(KeyPrefix.NOTIFY, target.id, content.kind, subject);
      const id = stableUuid(`${event.id}|${target.id}${extra?.idSuffix ?? ''}`);
      if (held === undefined) {
        await collapseAndDeliver(key, target, sample, id, 1);
        continue;
      }
      const waiting = held.get(key);
      if (waiting === undefined) held.set(key, { target, sample, id, count: 1 });
      else waiting.count += 1;
    }
  }

  async function flushHeld(held: Held): Promise<void> {
    for (const [key, h] of held) {
      held.delete(key);
      await collapseAndDeliver(key, h.target, h.sample, h.id, h.count);
    }
  }

  const conditionFields = (checks: readonly ConditionCheck[]): Content['fields'] =>
    checks.map((c) => ({ name: `When ${c.condition}`, value: `${c.actual} (${c.expected})` }));

  async function onEvent(event: EventRecord, held?: Held): Promise<void> {
    const severity = severityOf(event);
    const matched = matchingRules(deps.routes, event, severity);
    if (matched.length === 0) return;
    // A conditional route may share a collapse key with what the batch holds: that goes first.
    if (held !== undefined && matched.some((m) => m.rule.when !== undefined)) await flushHeld(held);
    const now = deps.now();
    // Control-plane time: a host whose clock is behind must not have its live alerts dropped as old.
    if (now - (controlPlaneTime(event) ?? now) > options.maxEventAgeMs) {
      metrics.notificationsTotal.inc({ channel: 'any', outcome: 'too_old' }, matched.length);
      return;
    }
    const targets = new Map<string, RouteTarget>();
    const conditional: Array<{ target: RouteTarget; checks: ConditionCheck[] }> = [];
    for (const { rule, target } of matched) {
      if (rule.when === undefined) {
        if (!targets.has(target.id)) targets.set(target.id, target);
        continue;
      }
      const verdict = await evaluateWhen(deps.conditions, rule, event, now, { record: true });
      if (verdict.outcome === 'fires') conditional.push({ target, checks: verdict.checks });
      else if (verdict.outcome === 'waits') {
        const pending: PendingRoute = { rule: ruleKey(rule), event, since: verdict.since, target: target.id };
        const subject = event.session ?? `node:${event.node}`;
        // One pending notification per rule and subject: a newer event of the same kind replaces it.
        await store.mutate<PendingRoute, void>(
          keyOf(KeyPrefix.NOTIFY_PENDING, pending.rule, subject),
          () => ({
            value: pending,
            result: undefined,
          }),
        );
      }
    }
    if (targets.size > 0) await notify(event, severity, [...targets.values()], undefined, held);
    for (const c of conditional) {
      if (targets.has(c.target.id)) continue;
      targets.set(c.target.id, c.target);
      await notify(event, severity, [c.target], { idSuffix: '|when', fields: conditionFields(c.checks) });
    }
  }

  /** Pending conditional routes whose duration is reached fire once; ended states drop theirs. */
  async function firePending(now: number): Promise<void> {
    for (const key of await store.keys(KeyPrefix.NOTIFY_PENDING)) {
      const pending = (await store.get<PendingRoute>(key))?.value;
      if (pending === undefined) continue;
      const rule = deps.routes.find((r) => ruleKey(r) === pending.rule);
      const duration = rule?.when?.state_for_seconds;
      const since =
        rule === undefined ? null : await stateSince(deps.conditions, pending.event, pending.since);
      if (rule === undefined || duration === undefined || since === null) {
        await store.delete(key);
        continue;
      }
      const seconds = Math.max(0, Math.floor((now - since) / 1000));
      if (!compare(seconds, duration)) continue;
      // The claim: whoever deletes the revision it read fires; another instance finds it gone.
      const claimed = await store.mutate<PendingRoute | { fired: true }, boolean>(key, (cur) =>
        cur === undefined || 'fired' in cur ? { result: false } : { value: { fired: true }, result: true },
      );
      if (!claimed) continue;
      const target = routeTargetOf(pending.target);
      const check: ConditionCheck = {
        condition: 'state_for_seconds',
        expected: describeComparison(duration),
        actual: String(seconds),
        holds: true,
      };
      if (target) {
        await notify(pending.event, severityOf(pending.event), [target], {
          idSuffix: '|when',
          fields: conditionFields([check]),
        });
      }
      await store.delete(key);
    }
  }

  async function tick(): Promise<void> {
    const now = deps.now();
    await firePending(now);
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
    onEvent: (event) => onEvent(event),
    batch() {
      const held: Held = new Map();
      return { onEvent: (event) => onEvent(event, held), flush: () => flushHeld(held) };
    },
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

import type { JetStreamClient } from '@hal/bus';
import { type Clock, createRateLimitedLog, type Logger } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { skewAlertDue } from './clock-skew.ts';
import type { SessionConflict } from './event-ingest.ts';
import {
  nodeClockSkewEvent,
  nodeIdConflictEvent,
  nodeOfflineEvent,
  nodeOnlineEvent,
  type OfflineReason,
  publishSystemEvent,
  sessionConflictEvent,
} from './system-events.ts';

/** Sessions alerted about per connection; beyond this a flood of forgeries is counted, not alerted. */
const MAX_CONFLICT_ALERTS = 100;

const CONFLICT_ALERT_EVERY_MS = 60_000;

/**
 * One node.id_conflict alert per (node, refused instance) a minute: a retrying agent is no
 * flood. `sent` is shared by the gateway's connections; true when this one is due.
 */
function idConflictAlertDue(sent: Map<string, number>, key: string, now: number): boolean {
  const last = sent.get(key);
  if (last !== undefined && now - last < CONFLICT_ALERT_EVERY_MS) return false;
  if (sent.size > 10_000) sent.clear();
  sent.set(key, now);
  return true;
}

export interface NodeAnnouncementsDeps {
  node: string;
  gatewayId: string;
  remoteAddress: string | null;
  js: JetStreamClient;
  log: Logger;
  clock: Clock;
  /** Last node.id_conflict alert per (node, instance), shared by the gateway's connections. */
  conflictAlerts: Map<string, number>;
  /** Nodes whose clock skew is past the threshold and was alerted, shared by the gateway's connections. */
  skewAlerted: Set<string>;
  /** `alerts.clock_skew_seconds`. */
  skewThresholdSec: number;
}

type Instance = { host: string | null; remote_address: string | null; instance_id: string | null };

/**
 * What the gateway says on the bus about one connection's node: node.online/offline, and the
 * alerts (a session another node owns, an id two instances claim, a skewed clock), each
 * bounded so that a hostile or broken agent cannot turn them into a flood. A failed publish is
 * logged, never thrown.
 */
export class NodeAnnouncements {
  readonly #d: NodeAnnouncementsDeps;
  /** Made on the first conflict: most connections never have one (memory per connection, #13). */
  #warnLog: ReturnType<typeof createRateLimitedLog> | undefined;
  #alertedSet: Set<string> | undefined;

  constructor(deps: NodeAnnouncementsDeps) {
    this.#d = deps;
  }

  get #warn(): ReturnType<typeof createRateLimitedLog> {
    this.#warnLog ??= createRateLimitedLog(this.#d.log);
    return this.#warnLog;
  }

  get #alerted(): Set<string> {
    this.#alertedSet ??= new Set<string>();
    return this.#alertedSet;
  }

  publish(event: EventRecord): Promise<void> {
    return publishSystemEvent(this.#d.js, event).catch((err: unknown) => {
      this.#d.log.error({ err, type: event.type }, 'system event publish failed');
    });
  }

  online(data: { agent_version: string; projects: Array<{ name: string; directory: string }> }): void {
    void this.publish(
      nodeOnlineEvent(this.#d.node, { ...data, gateway: this.#d.gatewayId }, new Date(this.#d.clock.now())),
    );
  }

  offline(reason: OfflineReason): Promise<void> {
    this.#d.log.info({ reason }, 'node offline');
    return this.publish(
      nodeOfflineEvent(this.#d.node, { reason, gateway: this.#d.gatewayId }, new Date(this.#d.clock.now())),
    );
  }

  /** The control plane's alert (routable as `security.*`); one per session and connection. */
  sessionConflict(conflict: SessionConflict): void {
    this.#warn.warn(
      'session-conflict',
      { session: conflict.session, owner: conflict.owner, type: conflict.type },
      "refused a report of another node's session",
    );
    if (this.#alerted.has(conflict.session) || this.#alerted.size >= MAX_CONFLICT_ALERTS) return;
    this.#alerted.add(conflict.session);
    void this.publish(
      sessionConflictEvent(
        this.#d.node,
        { ...conflict, gateway: this.#d.gatewayId, remote_address: this.#d.remoteAddress },
        new Date(this.#d.clock.now()),
      ),
    );
  }

  /** node.id_conflict: another instance holds this node id (at most once a minute per instance). */
  idConflict(holder: Instance & { gateway: string }, refused: Instance & { instance_id: string }): void {
    const now = this.#d.clock.now();
    if (!idConflictAlertDue(this.#d.conflictAlerts, `${this.#d.node}\u0000${refused.instance_id}`, now))
      return;
    void this.publish(nodeIdConflictEvent(this.#d.node, { holder, refused }, new Date(now)));
  }

  /** node.clock_skew once the estimate crosses the threshold (again only after it came back under). */
  skew(skewMs: number, receivedAt: number): void {
    const thresholdSec = this.#d.skewThresholdSec;
    if (!skewAlertDue(this.#d.skewAlerted, this.#d.node, skewMs, thresholdSec)) return;
    this.#d.log.warn({ clock_skew_ms: skewMs, threshold_seconds: thresholdSec }, 'node clock is skewed');
    void this.publish(
      nodeClockSkewEvent(
        this.#d.node,
        { skew_ms: skewMs, threshold_seconds: thresholdSec, gateway: this.#d.gatewayId },
        new Date(receivedAt),
      ),
    );
  }
}

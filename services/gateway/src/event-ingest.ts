import type { Socket } from 'node:net';
import type { JetStreamClient, SessionOwners } from '@hal/bus';
import type { Clock, HalMetrics, Logger } from '@hal/observability';
import { ErrorCode, type EventRecord, formatPath, makeEnvelope, WsType } from '@hal/protocol';
import { AckWindow } from './ack-window.ts';
import { checkEvent, seqOf } from './event-check.ts';
import { errorFrame, type FrameProblem } from './frames.ts';
import type { GatewayLimits } from './gateway-config.ts';
import type { PublishBudget } from './publish-budget.ts';
import { SessionOrderedPublisher, type Waiting } from './session-ordered-publish.ts';

/** A node reported a session that belongs to another node. */
export interface SessionConflict {
  session: string;
  owner: string;
  type: string;
  seq: number;
}

export interface EventIngestDeps {
  node: string;
  js: JetStreamClient;
  log: Logger;
  metrics: HalMetrics;
  limits: GatewayLimits;
  budget: PublishBudget;
  /** Which node each session belongs to (shared by every gateway through KV). */
  owners: SessionOwners;
  /** Raises the control plane's alert for a refused session report. */
  onSessionConflict(conflict: SessionConflict): void;
  /** The connection's TCP socket, paused for backpressure. */
  socket: Socket | undefined;
  send(frame: string): void;
  isClosed(): boolean;
  /** The control plane's clock: every accepted event is stamped `received_at` with it. */
  clock: Clock;
  /** The node's measured clock skew (ms), stamped on each event with `received_at`. */
  skewMs(): number | undefined;
}

const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 5_000;

class ConnectionClosed extends Error {}

/**
 * The `events` path of one connection: validates each record on its own, checks that the node
 * may say it (host event types only, its own sessions only), publishes the good ones pipelined
 * (never one at a time: JetStream's round trip would cap throughput), rejects the bad ones with
 * their seqs, and acks in order once JetStream has everything up to a seq. It owns no closure
 * and nothing it does not need at the moment (a loaded connection's memory is #13's figure).
 */
export class EventIngest extends SessionOrderedPublisher {
  readonly #d: EventIngestDeps;
  readonly #acks = new AckWindow();
  #inFlight = 0;
  #paused = false;
  #ackScheduled = false;
  /**
   * Events whose session owner is being looked up wait here, and every later event of this
   * connection queues behind them: publishes leave in the order the agent sent them. Undefined
   * while nothing waits.
   */
  #queue: Promise<void> | undefined;
  #queued = 0;

  constructor(deps: EventIngestDeps) {
    super(deps);
    this.#d = deps;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  /** Read-only view for tests and diagnostics: whether reading the socket is paused for backpressure. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Bytes the agent sent that wait unread in the socket while it is paused. */
  get unreadBytes(): number {
    return this.#d.socket?.readableLength ?? 0;
  }

  ingest(events: unknown[], requestId: string): void {
    const rejected: number[] = [];
    let first: FrameProblem | undefined;
    // One reading for the whole frame: its events arrived together.
    const stamp = {
      received_at: new Date(this.#d.clock.now()).toISOString(),
      host_skew_ms: this.#d.skewMs(),
    };
    events.forEach((raw, i) => {
      const checked = checkEvent(raw, i, stamp, this.#d);
      if ('event' in checked) {
        this.#accept(checked.event, checked.json, i, requestId);
        return;
      }
      const { problem } = checked;
      first ??= problem;
      this.#d.metrics.eventsRejectedTotal.inc({ code: problem.code });
      const seq = seqOf(raw);
      if (seq !== undefined) {
        rejected.push(seq);
        // A rejected event is settled at once, so the ack can move past it.
        if (this.#acks.settle(this.#acks.open(seq))) this.#scheduleAck();
      }
    });
    if (first !== undefined) {
      const count = rejected.length > 0 ? rejected.length : 'some';
      const message = `${count} of ${events.length} events rejected; first: ${first.message}`;
      this.#d.send(errorFrame({ ...first, message, requestId }, rejected));
    }
    if (this.#inFlight >= this.#d.limits.maxInFlightPerConnection || this.#d.budget.exhausted) this.#pause();
  }

  /** Stops waiting for the global budget; in-flight publishes finish without acks. */
  close(): void {
    this.#d.budget.forget(this);
  }

  /** The gateway's publish budget is low again (PublishBudget's waiter). */
  budgetAvailable(): void {
    this.#maybeResume();
  }

  /**
   * A valid event: its slot in the ack window, then publish once its session is known to be its
   * node's. From here on only what the publish needs is kept (the parsed record is let go).
   */
  #accept(event: EventRecord, json: string, index: number, requestId: string): void {
    const session = event.session;
    const item: Waiting = this.#acks.track({
      seq: event.seq,
      done: false,
      key: session ?? '',
      id: event.id,
      node: event.node,
      project: event.project,
      type: event.type,
      json,
    });
    this.#inFlight++;
    this.#d.budget.acquire();
    const known = session === null ? this.#d.node : this.#d.owners.cached(session);
    if (this.#queued === 0 && known !== undefined) {
      this.#decide(item, known, index, requestId);
      return;
    }
    // The look-up starts now (several run in parallel); the decisions keep the agent's order.
    const owner = session === null ? Promise.resolve(this.#d.node) : this.#ownerOf(session);
    owner.catch(() => undefined);
    this.#queued++;
    this.#queue = (this.#queue ?? Promise.resolve())
      .then(async () => {
        let o: string;
        try {
          o = await owner;
        } catch {
          // Closed while waiting: not acked, so the event is still in the agent's spool.
          this.#release();
          return;
        }
        this.#decide(item, o, index, requestId);
      })
      .catch((err: unknown) => this.#d.log.error({ err, seq: item.seq }, 'event not handled'))
      .finally(() => {
        if (--this.#queued === 0) this.#queue = undefined;
      });
  }

  /** The session's owner, claiming it for this node if nobody has it; retried while KV is away. */
  async #ownerOf(session: string): Promise<string> {
    for (let n = 1; ; n++) {
      if (this.#d.isClosed()) throw new ConnectionClosed();
      try {
        return await this.#d.owners.claim(session, this.#d.node);
      } catch (err) {
        if (n === 1) this.#d.log.warn({ err, session }, 'session owner look-up failed; retrying');
        await new Promise((r) => setTimeout(r, Math.min(RETRY_BASE_MS * 2 ** (n - 1), RETRY_CAP_MS)).unref());
      }
    }
  }

  #decide(item: Waiting, owner: string, index: number, requestId: string): void {
    if (owner === this.#d.node) {
      this.publish(item);
      return;
    }
    this.#d.metrics.agentRefusalsTotal.inc({ code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE });
    this.#d.metrics.eventsRejectedTotal.inc({ code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE });
    this.#d.send(
      JSON.stringify(
        makeEnvelope(
          WsType.ERROR,
          {
            code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE,
            message: `event seq ${item.seq} (${item.type}) reports session "${item.key}", which belongs to another node`,
            path: formatPath(['payload', 'events', index, 'session']),
            rejected_seqs: [item.seq],
          },
          requestId,
        ),
      ),
    );
    this.#d.onSessionConflict({ session: item.key, owner, type: item.type, seq: item.seq });
    this.#settle(item);
  }

  #release(): void {
    this.#inFlight--;
    this.#d.budget.release();
  }

  #settle(item: Waiting): void {
    this.#release();
    if (this.#acks.settle(item)) this.#scheduleAck();
    this.#maybeResume();
  }

  protected published(item: Waiting, settled: boolean): void {
    if (settled) this.#settle(item);
    else this.#release();
  }

  /** One ack frame per turn of the event loop, however many publishes completed in it. */
  #scheduleAck(): void {
    if (this.#ackScheduled) return;
    this.#ackScheduled = true;
    setImmediate(() => {
      this.#ackScheduled = false;
      if (this.#acks.acked >= 0 && !this.#d.isClosed()) {
        this.#d.send(JSON.stringify(makeEnvelope(WsType.ACK, { seq: this.#acks.acked })));
      }
    });
  }

  #pause(): void {
    if (!this.#paused) {
      this.#paused = true;
      this.#d.socket?.pause();
    }
    if (this.#d.budget.exhausted) this.#d.budget.whenAvailable(this);
  }

  #maybeResume(): void {
    if (!this.#paused || this.#inFlight > this.#d.limits.maxInFlightPerConnection / 2) return;
    if (this.#d.budget.exhausted) {
      this.#d.budget.whenAvailable(this);
      return;
    }
    this.#paused = false;
    this.#d.socket?.resume();
  }
}

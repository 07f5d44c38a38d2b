import {
  isPermanentPublishError,
  type JetStreamClient,
  type PubAck,
  publishEvent,
  toBusError,
} from '@hal/bus';
import type { HalMetrics, Logger } from '@hal/observability';
import { ErrorCode, type EventRecord, makeEnvelope, WsType } from '@hal/protocol';

const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 5_000;

export interface OrderedPublisherDeps {
  js: JetStreamClient;
  log: Logger;
  metrics: HalMetrics;
  send(frame: string): void;
  isClosed(): boolean;
}

/**
 * One connection's JetStream publishes: pipelined across sessions, one after another within a
 * session, transient failures retried with the same message id (JetStream keeps one copy).
 */
export class SessionOrderedPublisher {
  readonly #d: OrderedPublisherDeps;
  /**
   * Per session (node events under ''), its events not yet stored, oldest first; the first is
   * the one being published. The next one of a session starts only once that one is stored;
   * sessions still publish side by side. Pipelining within a session would let a later event land
   * first whenever an earlier publish is lost with a NATS node or connection and retried — the
   * store would no longer hold the session in order. A queue entry is one small record (no
   * promise chain per event): thousands wait here under load, and their garbage was most of the
   * gateway's GC time.
   */
  readonly #sessions = new Map<string, Waiting[]>();

  constructor(deps: OrderedPublisherDeps) {
    this.#d = deps;
  }

  /**
   * Publishes `event` once the previous event of its session is stored. `done(true)`: stored, a
   * duplicate or refused for good (the error frame is sent) — its seq may be acked; `done(false)`:
   * the connection closed first, so it stays in the agent's spool and is resent.
   */
  publish(event: EventRecord, json: string, done: (settled: boolean) => void): void {
    const key = event.session ?? '';
    const item: Waiting = { key, event, json, done };
    const queue = this.#sessions.get(key);
    if (queue !== undefined) {
      queue.push(item);
      return;
    }
    // Closed already: the agent resends it on its next connection.
    if (this.#d.isClosed()) {
      done(false);
      return;
    }
    this.#sessions.set(key, [item]);
    this.#attempt(item, 1);
  }

  #attempt(item: Waiting, n: number): void {
    const { event } = item;
    publishEvent(this.#d.js, event, item.json).then(
      (ack: PubAck) => {
        if (!ack.duplicate) this.#d.metrics.eventsTotal.inc({ type: event.type });
        this.#finish(item, true);
      },
      (err: unknown) => {
        if (this.#d.isClosed()) {
          // Not acked, so still in the agent's spool: it is resent on the next connection.
          this.#finish(item, false);
          return;
        }
        if (isPermanentPublishError(err)) {
          const message = err instanceof Error ? err.message : String(err);
          this.#d.log.error({ err, seq: event.seq, event: event.id }, 'jetstream refused event');
          this.#d.metrics.eventsRejectedTotal.inc({ code: ErrorCode.UNAVAILABLE });
          this.#d.send(
            JSON.stringify(
              makeEnvelope(WsType.ERROR, {
                code: ErrorCode.UNAVAILABLE,
                message: `JetStream refused event seq ${event.seq}: ${message}`,
                rejected_seqs: [event.seq],
              }),
            ),
          );
          this.#finish(item, true);
          return;
        }
        // Timeouts, outages, "temporarily unavailable", leader elections: retry with the same
        // message id; JetStream keeps one copy.
        if (n === 1)
          this.#d.log.warn({ err: toBusError(err, 'HAL_EVENTS') }, 'event publish failed; retrying');
        const delay = Math.min(RETRY_BASE_MS * 2 ** (n - 1), RETRY_CAP_MS);
        setTimeout(() => this.#attempt(item, n + 1), delay).unref();
      },
    );
  }

  /** The session's head is done: report it, then start its next event (or end the queue). */
  #finish(item: Waiting, settled: boolean): void {
    item.done(settled);
    const queue = this.#sessions.get(item.key);
    if (queue === undefined) return;
    for (;;) {
      queue.shift();
      const next = queue[0];
      if (next === undefined) {
        this.#sessions.delete(item.key);
        return;
      }
      if (!this.#d.isClosed()) {
        this.#attempt(next, 1);
        return;
      }
      // Closed while waiting for the previous one: the agent resends it on its next connection.
      next.done(false);
    }
  }
}

interface Waiting {
  key: string;
  event: EventRecord;
  json: string;
  done(settled: boolean): void;
}

import {
  isPermanentPublishError,
  type JetStreamClient,
  type PubAck,
  publishEvent,
  toBusError,
} from '@hal/bus';
import type { HalMetrics, Logger } from '@hal/observability';
import { ErrorCode, makeEnvelope, WsType } from '@hal/protocol';
import type { Slot } from './ack-window.ts';

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
 * An accepted event waiting for its session's turn: only what its publish (subject parts, msg id,
 * the serialised bytes), its metrics and its error frame need, and its own slot in the ack window.
 * Thousands wait under load; a parsed record each (its payload tree) was most of the gateway's
 * garbage, and a `done` closure each more of it.
 */
export interface Waiting extends Slot {
  /** Its session; '' for node events. */
  readonly key: string;
  readonly id: string;
  readonly node: string;
  readonly project: string;
  readonly type: string;
  readonly json: string;
}

/**
 * One connection's JetStream publishes: pipelined across sessions, one after another within a
 * session, transient failures retried with the same message id (JetStream keeps one copy). The
 * connection's event ingest is one (a subclass, not an object of its own: a loaded connection's
 * memory is #13's figure).
 */
export abstract class SessionOrderedPublisher {
  readonly #d: OrderedPublisherDeps;
  /**
   * Per session (node events under ''), its events not yet stored, oldest first; the first is
   * the one being published. The next one of a session starts only once that one is stored;
   * sessions still publish side by side. Pipelining within a session would let a later event land
   * first whenever an earlier publish is lost with a NATS node or connection and retried — the
   * store would no longer hold the session in order. Dropped whenever it empties (between frames,
   * usually): a Map keeps the table it grew to, ~0.2 KiB per idle connection.
   */
  #sessions: Map<string, Waiting[]> | undefined;

  constructor(deps: OrderedPublisherDeps) {
    this.#d = deps;
  }

  /**
   * `settled`: stored, a duplicate or refused for good (the error frame is sent) — its seq may
   * be acked; not settled: the connection closed first, so it stays in the agent's spool and is
   * resent.
   */
  protected abstract published(item: Waiting, settled: boolean): void;

  /** Publishes `item` once the previous event of its session is stored. */
  protected publish(item: Waiting): void {
    const queue = this.#sessions?.get(item.key);
    if (queue !== undefined) {
      queue.push(item);
      return;
    }
    // Closed already: the agent resends it on its next connection.
    if (this.#d.isClosed()) {
      this.published(item, false);
      return;
    }
    this.#sessions ??= new Map();
    this.#sessions.set(item.key, [item]);
    this.#attempt(item, 1);
  }

  #attempt(item: Waiting, n: number): void {
    publishEvent(this.#d.js, item, item.json).then(
      (ack: PubAck) => {
        if (!ack.duplicate) this.#d.metrics.eventsTotal.inc({ type: item.type });
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
          this.#d.log.error({ err, seq: item.seq, event: item.id }, 'jetstream refused event');
          this.#d.metrics.eventsRejectedTotal.inc({ code: ErrorCode.UNAVAILABLE });
          this.#d.send(
            JSON.stringify(
              makeEnvelope(WsType.ERROR, {
                code: ErrorCode.UNAVAILABLE,
                message: `JetStream refused event seq ${item.seq}: ${message}`,
                rejected_seqs: [item.seq],
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
    this.published(item, settled);
    const sessions = this.#sessions;
    const queue = sessions?.get(item.key);
    if (sessions === undefined || queue === undefined) return;
    for (;;) {
      queue.shift();
      const next = queue[0];
      if (next === undefined) {
        sessions.delete(item.key);
        if (sessions.size === 0) this.#sessions = undefined;
        return;
      }
      if (!this.#d.isClosed()) {
        this.#attempt(next, 1);
        return;
      }
      // Closed while waiting for the previous one: the agent resends it on its next connection.
      this.published(next, false);
    }
  }
}

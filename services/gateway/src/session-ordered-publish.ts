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
   * Per session (node events under ''), the publish of its latest event: the next one of the same
   * session starts only once that one is stored. Sessions still publish side by side. Pipelining
   * within a session would let a later event land first whenever an earlier publish is lost with a
   * NATS node or connection and retried — the store would no longer hold the session in order.
   */
  readonly #tails = new Map<string, Promise<void>>();

  constructor(deps: OrderedPublisherDeps) {
    this.#d = deps;
  }

  /**
   * Publishes `event` once the previous event of its session is stored. `done(true)`: stored, a
   * duplicate or refused for good (the error frame is sent) — its seq may be acked; `done(false)`:
   * the connection closed first, so it stays in the agent's spool and is resent.
   */
  publish(event: EventRecord, json: string, done: (settled: boolean) => void): void {
    const attempt = (n: number, finish: (settled: boolean) => void): void => {
      publishEvent(this.#d.js, event, json).then(
        (ack: PubAck) => {
          if (!ack.duplicate) this.#d.metrics.eventsTotal.inc({ type: event.type });
          finish(true);
        },
        (err: unknown) => {
          if (this.#d.isClosed()) {
            // Not acked, so still in the agent's spool: it is resent on the next connection.
            finish(false);
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
            finish(true);
            return;
          }
          // Timeouts, outages, "temporarily unavailable", leader elections: retry with the same
          // message id; JetStream keeps one copy.
          if (n === 1)
            this.#d.log.warn({ err: toBusError(err, 'HAL_EVENTS') }, 'event publish failed; retrying');
          const delay = Math.min(RETRY_BASE_MS * 2 ** (n - 1), RETRY_CAP_MS);
          setTimeout(() => attempt(n + 1, finish), delay).unref();
        },
      );
    };
    const key = event.session ?? '';
    const previous = this.#tails.get(key);
    const stored = new Promise<void>((next) => {
      const settle = (settled: boolean): void => {
        done(settled);
        next();
      };
      const start = (): void => {
        // Closed while waiting for the previous one: the agent resends it on its next connection.
        if (this.#d.isClosed()) {
          settle(false);
          return;
        }
        attempt(1, settle);
      };
      if (previous === undefined) start();
      else void previous.then(start);
    });
    this.#tails.set(key, stored);
    void stored.then(() => {
      if (this.#tails.get(key) === stored) this.#tails.delete(key);
    });
  }
}

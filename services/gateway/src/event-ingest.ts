import type { Socket } from 'node:net';
import { type JetStreamClient, type PubAck, publishEvent, toBusError } from '@hal/bus';
import type { HalMetrics, Logger } from '@hal/observability';
import {
  ErrorCode,
  type EventRecord,
  eventRecordSchema,
  formatPath,
  makeEnvelope,
  WsType,
} from '@hal/protocol';
import { AckWindow } from './ack-window.ts';
import { errorFrame, type FrameProblem } from './frames.ts';
import type { GatewayLimits } from './gateway-config.ts';
import type { PublishBudget } from './publish-budget.ts';

export interface EventIngestDeps {
  node: string;
  js: JetStreamClient;
  log: Logger;
  metrics: HalMetrics;
  limits: GatewayLimits;
  budget: PublishBudget;
  /** The connection's TCP socket, paused for backpressure. */
  socket: Socket | undefined;
  send(frame: string): void;
  isClosed(): boolean;
}

/** JetStream refused the message itself: retrying the same bytes cannot succeed. */
const PERMANENT_ERRORS = new Set(['JetStreamApiError', 'InvalidArgumentError', 'InvalidSubjectError']);
const RETRY_BASE_MS = 250;
const RETRY_CAP_MS = 5_000;

/**
 * The `events` path of one connection: validates each record on its own, publishes the good
 * ones pipelined (never one at a time: JetStream's round trip would cap throughput), rejects
 * the bad ones with their seqs, and acks in order once JetStream has everything up to a seq.
 */
export class EventIngest {
  readonly #d: EventIngestDeps;
  readonly #acks = new AckWindow();
  #inFlight = 0;
  #paused = false;
  #ackScheduled = false;
  readonly #resumeFromBudget = (): void => this.#maybeResume();

  constructor(deps: EventIngestDeps) {
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
    events.forEach((raw, i) => {
      const checked = this.#check(raw, i);
      if ('event' in checked) {
        this.#publish(checked.event);
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
    this.#d.budget.forget(this.#resumeFromBudget);
  }

  /** Record `i` of the frame, validated on its own, or what is wrong with it. */
  #check(raw: unknown, i: number): { event: EventRecord } | { problem: FrameProblem } {
    const parsed = eventRecordSchema.safeParse(raw);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const path = formatPath(['payload', 'events', i, ...(issue?.path ?? [])]);
      return {
        problem: {
          code: ErrorCode.VALIDATION_FAILED,
          message: `${path}: ${issue?.message ?? 'invalid'}`,
          path,
        },
      };
    }
    if (parsed.data.node !== this.#d.node) {
      const path = formatPath(['payload', 'events', i, 'node']);
      const message = `${path}: event of node "${parsed.data.node}" sent on the connection of node "${this.#d.node}"`;
      return { problem: { code: ErrorCode.VALIDATION_FAILED, message, path } };
    }
    return { event: parsed.data };
  }

  #publish(event: EventRecord): void {
    const slot = this.#acks.open(event.seq);
    this.#inFlight++;
    this.#d.budget.acquire();
    const release = (): void => {
      this.#inFlight--;
      this.#d.budget.release();
    };
    const settle = (): void => {
      release();
      if (this.#acks.settle(slot)) this.#scheduleAck();
      this.#maybeResume();
    };
    const attempt = (n: number): void => {
      publishEvent(this.#d.js, event).then(
        (ack: PubAck) => {
          if (!ack.duplicate) this.#d.metrics.eventsTotal.inc({ type: event.type });
          settle();
        },
        (err: unknown) => {
          if (this.#d.isClosed()) {
            // Not acked, so still in the agent's spool: it is resent on the next connection.
            release();
            return;
          }
          if (err instanceof Error && PERMANENT_ERRORS.has(err.name)) {
            this.#d.log.error({ err, seq: event.seq, event: event.id }, 'jetstream refused event');
            this.#d.metrics.eventsRejectedTotal.inc({ code: ErrorCode.UNAVAILABLE });
            this.#d.send(
              JSON.stringify(
                makeEnvelope(WsType.ERROR, {
                  code: ErrorCode.UNAVAILABLE,
                  message: `JetStream refused event seq ${event.seq}: ${err.message}`,
                  rejected_seqs: [event.seq],
                }),
              ),
            );
            settle();
            return;
          }
          // Timeouts and outages: retry with the same message id; JetStream keeps one copy.
          if (n === 1)
            this.#d.log.warn({ err: toBusError(err, 'HAL_EVENTS') }, 'event publish failed; retrying');
          const delay = Math.min(RETRY_BASE_MS * 2 ** (n - 1), RETRY_CAP_MS);
          setTimeout(() => attempt(n + 1), delay).unref();
        },
      );
    };
    attempt(1);
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
    if (this.#d.budget.exhausted) this.#d.budget.whenAvailable(this.#resumeFromBudget);
  }

  #maybeResume(): void {
    if (!this.#paused || this.#inFlight > this.#d.limits.maxInFlightPerConnection / 2) return;
    if (this.#d.budget.exhausted) {
      this.#d.budget.whenAvailable(this.#resumeFromBudget);
      return;
    }
    this.#paused = false;
    this.#d.socket?.resume();
  }
}

/** The seq of a record that failed validation, when it has a usable one. */
function seqOf(raw: unknown): number | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const seq = (raw as { seq?: unknown }).seq;
  return typeof seq === 'number' && Number.isSafeInteger(seq) && seq >= 0 ? seq : undefined;
}

import type { JetStreamClient, JsMsg } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { StreamName } from '@hal/protocol';
import {
  AckPolicy,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
  type JetStreamManager,
} from '@nats-io/jetstream';
import type { BatchResult, Projection, RawEvent } from './projection.ts';

/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;
const ACK_WAIT_NS = 30 * 1e9;
const RETRY_AFTER_FAILURE_MS = 1000;

export interface EventConsumerDeps {
  js: JetStreamClient;
  projection: Projection;
  log: Logger;
  /**
   * Durable consumer name; one per tracker database (two instances with their own files need two).
   * This consumer is the instance's own: it is the only one this code ever deletes or re-creates.
   */
  durableName: string;
  /** The server removes the consumer once unused this long: a gone instance leaves no orphan. */
  inactiveThresholdSec: number;
  /** Messages the server may push ahead of the projection; also the largest batch. */
  batchSize?: number;
  onBatch?: (result: BatchResult) => void;
  /** The projection must be emptied and replayed because the stream is older than it (stream reset). */
  onStreamReset?: () => void;
}

export interface EventConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A durable pull consumer on HAL_EVENTS that applies messages in batches, one SQLite
 * transaction per batch, and acks only after commit. Its position lives in the database
 * (`applied_seq`, written in the same transaction), so the JetStream consumer is re-created at
 * that position whenever the two disagree: after a deleted or rebuilt database, or a gap.
 */
export function createEventConsumer(deps: EventConsumerDeps): EventConsumer {
  const log = deps.log.child({ component: 'tracker-consumer' });
  const batchSize = deps.batchSize ?? 1000;
  let jsm: JetStreamManager | undefined;
  let messages: ConsumerMessages | undefined;
  let buffer: JsMsg[] = [];
  let flushScheduled = false;
  let stopped = false;
  let resyncing: Promise<void> | undefined;
  // After (re)creating the consumer the first message may legitimately skip sequences (messages
  // aged out of the stream); later a skip means a delivery was lost, so we re-sync.
  let acceptAnyNext = true;

  async function position(): Promise<void> {
    jsm ??= await deps.js.jetstreamManager();
    let applied = deps.projection.appliedSeq();
    const stream = await jsm.streams.info(StreamName.EVENTS);
    if (stream.state.last_seq < applied) {
      log.warn(
        { applied_seq: applied, last_seq: stream.state.last_seq },
        'stream is behind the database; rebuilding',
      );
      deps.onStreamReset?.();
      applied = deps.projection.appliedSeq();
    }
    let delivered: number | undefined;
    try {
      delivered = (await jsm.consumers.info(StreamName.EVENTS, deps.durableName)).delivered.stream_seq;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    }
    if (delivered === applied) return;
    // Our own consumer (named after this instance), never another tracker's.
    if (delivered !== undefined) await jsm.consumers.delete(StreamName.EVENTS, deps.durableName);
    await jsm.consumers.add(StreamName.EVENTS, {
      durable_name: deps.durableName,
      // Messages are applied in stream order, so acking the last of a batch acks the batch:
      // one ack per transaction instead of one per event.
      ack_policy: AckPolicy.All,
      ack_wait: ACK_WAIT_NS,
      max_ack_pending: batchSize * 20,
      // Removed by the server when this instance is gone; if it comes back later, the consumer is
      // re-created at the database's position, so nothing is lost either way.
      inactive_threshold: deps.inactiveThresholdSec * 1e9,
      ...(applied === 0
        ? { deliver_policy: DeliverPolicy.All }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: applied + 1 }),
    });
    log.info({ applied_seq: applied, consumer_delivered: delivered ?? null }, 'consumer positioned');
  }

  async function consume(): Promise<void> {
    await position();
    if (stopped) return;
    const consumer = await deps.js.consumers.get(StreamName.EVENTS, deps.durableName);
    acceptAnyNext = true;
    messages = await consumer.consume({
      max_messages: batchSize,
      callback: (msg) => {
        buffer.push(msg);
        // Everything that arrives in one turn of the event loop goes into one transaction.
        if (!flushScheduled) {
          flushScheduled = true;
          setImmediate(flush);
        }
      },
    });
  }

  function flush(): void {
    flushScheduled = false;
    if (buffer.length === 0 || resyncing !== undefined) return;
    const batch = buffer;
    buffer = [];
    let next = deps.projection.appliedSeq() + 1;
    let cut = batch.length;
    for (let i = 0; i < batch.length; i++) {
      const seq = batch[i]!.seq;
      if (seq < next) continue;
      if (seq === next || acceptAnyNext) {
        acceptAnyNext = false;
        next = seq + 1;
        continue;
      }
      cut = i;
      break;
    }
    const take = batch.slice(0, cut);
    try {
      const raw: RawEvent[] = take.map((m) => ({ streamSeq: m.seq, data: m.string() }));
      const result = deps.projection.applyBatch(raw);
      take.at(-1)?.ack();
      for (const r of result.rejected)
        log.warn({ stream_seq: r.streamSeq, reason: r.reason }, 'event skipped');
      deps.onBatch?.(result);
    } catch (err) {
      log.error({ err }, 'batch not applied; re-syncing');
      resync(RETRY_AFTER_FAILURE_MS);
      return;
    }
    if (cut < batch.length) {
      log.warn({ expected_seq: next, got_seq: batch[cut]!.seq }, 'gap in delivery; re-syncing');
      resync(0);
    }
  }

  function resync(delayMs: number): void {
    if (stopped || resyncing !== undefined) return;
    const old = messages;
    messages = undefined;
    buffer = [];
    const run = (async () => {
      await old?.close();
      if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
      // Whatever the old consumer delivered meanwhile is redelivered by the new one.
      buffer = [];
      if (!stopped) await consume();
    })();
    resyncing = run;
    run.then(
      () => {
        if (resyncing === run) resyncing = undefined;
        setImmediate(flush);
      },
      (err: unknown) => {
        log.error({ err }, 'consumer re-sync failed');
        if (resyncing === run) resyncing = undefined;
        resync(RETRY_AFTER_FAILURE_MS);
      },
    );
  }

  return {
    async start() {
      stopped = false;
      await consume();
    },
    async stop() {
      stopped = true;
      await resyncing?.catch(() => undefined);
      await messages?.close();
      messages = undefined;
      // Apply what already arrived: it is committed and acked now instead of redelivered later.
      flush();
    },
  };
}

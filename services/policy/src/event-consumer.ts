import type { JetStreamClient, JsMsg } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { type EventRecord, eventRecordSchema, StreamName } from '@hal/protocol';
import {
  AckPolicy,
  type ConsumerConfig,
  type ConsumerMessages,
  DeliverPolicy,
  JetStreamApiError,
} from '@nats-io/jetstream';

/** The durable consumer of the active policy instance (whichever holds the lease). */
export const POLICY_CONSUMER = 'hal-policy';
/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;
const DEFAULT_ACK_WAIT_MS = 10_000;
const RETRY_DELAY_MS = 2_000;
const MAX_DELIVER = 5;

export interface EventConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Created with "deliver new": the first start does not act on, or notify about, the stream's
 * history; afterwards the durable position carries over restarts, so nothing is handled twice.
 *
 * One event in flight (`max_ack_pending` 1): the server hands out the next event only once the
 * previous one is acked, so events are handled in stream order — and so in order per session —
 * across a change of the active instance too: an event the old one never acked is redelivered
 * (after `ack_wait`) before anything behind it. While an event is being handled the instance says
 * it is still working on it, as long as it still leads.
 */
export function createEventConsumer(deps: {
  js: JetStreamClient;
  log: Logger;
  handle: (event: EventRecord) => Promise<void>;
  /** Checked before each event and before each "still working": false hands the event back. */
  stillLeading?: () => boolean;
  ackWaitMs?: number;
}): EventConsumer {
  const log = deps.log.child({ component: 'consumer' });
  const ackWaitMs = deps.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  const leading = deps.stillLeading ?? (() => true);
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;

  const wanted: Partial<ConsumerConfig> = {
    ack_wait: ackWaitMs * 1e6,
    max_ack_pending: 1,
    max_deliver: MAX_DELIVER,
  };

  async function ensureConsumer(): Promise<void> {
    const jsm = await deps.js.jetstreamManager();
    try {
      const info = await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
      const c = info.config;
      // Created by an older version (many events in flight, a long ack wait): brought to one in flight.
      if (c.max_ack_pending !== wanted.max_ack_pending || c.ack_wait !== wanted.ack_wait) {
        await jsm.consumers.update(StreamName.EVENTS, POLICY_CONSUMER, wanted);
        log.info({ consumer: POLICY_CONSUMER }, 'consumer updated to one event in flight');
      }
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    }
    // Two instances starting together both try; the second add of an identical config succeeds.
    await jsm.consumers.add(StreamName.EVENTS, {
      durable_name: POLICY_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.New,
      ...wanted,
    });
  }

  async function handleOne(msg: JsMsg): Promise<void> {
    let raw: unknown;
    try {
      raw = msg.json();
    } catch {
      log.warn({ seq: msg.seq }, 'event is not JSON; skipped');
      msg.term();
      return;
    }
    const parsed = eventRecordSchema.safeParse(raw);
    if (!parsed.success) {
      log.warn({ seq: msg.seq, subject: msg.subject }, 'event does not match the schema; skipped');
      msg.term();
      return;
    }
    // A slow event (a command waiting on its agent) keeps its claim while this instance leads;
    // once it does not, the claim lapses and the new leader gets the event.
    const working = setInterval(() => {
      if (leading()) msg.working();
    }, ackWaitMs / 3);
    try {
      await deps.handle(parsed.data);
      msg.ack();
    } catch (err) {
      log.error({ err, seq: msg.seq, event: parsed.data.id }, 'event handling failed; will retry');
      msg.nak(RETRY_DELAY_MS);
    } finally {
      clearInterval(working);
    }
  }

  return {
    async start() {
      await ensureConsumer();
      const consumer = await deps.js.consumers.get(StreamName.EVENTS, POLICY_CONSUMER);
      messages = await consumer.consume({ max_messages: 16 });
      const iter = messages;
      loop = (async () => {
        for await (const msg of iter) {
          if (!leading()) {
            // No longer the active instance (a stall, a partition): stop pulling, and hand the event
            // back unhandled — the next leader gets it before anything behind it. (A nak without
            // leaving would be redelivered here at once, again and again, up to max_deliver.)
            void iter.close();
            msg.nak();
            break;
          }
          await handleOne(msg);
        }
      })().catch((err) => log.error({ err }, 'event consumer stopped'));
    },
    async stop() {
      await messages?.close();
      await loop;
    },
  };
}

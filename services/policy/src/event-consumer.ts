import type { JetStreamClient, JsMsg } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { type EventRecord, eventRecordSchema, StreamName } from '@hal/protocol';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';

/** The durable consumer every policy instance shares: each event is delivered to one of them. */
export const POLICY_CONSUMER = 'hal-policy';
/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;
const ACK_WAIT_NS = 60 * 1e9;
const RETRY_DELAY_MS = 2_000;
const MAX_DELIVER = 5;

export interface EventConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Created with "deliver new": the first start does not act on, or notify about, the stream's
 * history; afterwards the durable position carries over restarts, so nothing is handled twice.
 */
export function createEventConsumer(deps: {
  js: JetStreamClient;
  log: Logger;
  handle: (event: EventRecord) => Promise<void>;
}): EventConsumer {
  const log = deps.log.child({ component: 'consumer' });
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;

  async function ensureConsumer(): Promise<void> {
    const jsm = await deps.js.jetstreamManager();
    try {
      await jsm.consumers.info(StreamName.EVENTS, POLICY_CONSUMER);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    }
    // Two instances starting together both try; the second add of an identical config succeeds.
    await jsm.consumers.add(StreamName.EVENTS, {
      durable_name: POLICY_CONSUMER,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_NS,
      deliver_policy: DeliverPolicy.New,
      max_deliver: MAX_DELIVER,
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
    try {
      await deps.handle(parsed.data);
      msg.ack();
    } catch (err) {
      log.error({ err, seq: msg.seq, event: parsed.data.id }, 'event handling failed; will retry');
      msg.nak(RETRY_DELAY_MS);
    }
  }

  return {
    async start() {
      await ensureConsumer();
      const consumer = await deps.js.consumers.get(StreamName.EVENTS, POLICY_CONSUMER);
      messages = await consumer.consume({ max_messages: 256 });
      const iter = messages;
      loop = (async () => {
        // One at a time per instance: a session's events stay in order within an instance,
        // and KV compare-and-set orders the instances.
        for await (const msg of iter) await handleOne(msg);
      })().catch((err) => log.error({ err }, 'event consumer stopped'));
    },
    async stop() {
      await messages?.close();
      await loop;
    },
  };
}

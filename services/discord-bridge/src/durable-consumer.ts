import type { JetStreamClient, JsMsg } from '@hal/bus';
import { type Backoff, backoffDelay, type Logger } from '@hal/observability';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';

/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;
const ACK_WAIT_NS = 60 * 1e9;

export interface DurableConsumer {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** What the handler says about one message: done (ack), drop it (term), or try again soon. */
export type Outcome = 'done' | 'drop' | { retryInMs: number };

/**
 * A shared durable pull consumer (every bridge instance binds the same one, so each message
 * goes to one of them), handled one message at a time, in order. A handler that fails — Discord
 * unreachable, a 5xx — is retried in place with backoff while the message is kept (`working()`),
 * so nothing behind it overtakes it and nothing is dropped: notifications wait in the stream.
 * Created with "deliver new": the first start does not post the stream's history.
 */
export function createDurableConsumer(deps: {
  js: JetStreamClient;
  stream: string;
  durable: string;
  filter: string;
  log: Logger;
  backoff: Backoff;
  handle: (msg: JsMsg) => Promise<Outcome>;
}): DurableConsumer {
  const log = deps.log.child({ consumer: deps.durable });
  let messages: ConsumerMessages | undefined;
  let loop: Promise<void> | undefined;
  let stopping = false;
  const wake = new Set<() => void>();

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(t);
        wake.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      wake.add(done);
    });

  async function ensure(): Promise<void> {
    const jsm = await deps.js.jetstreamManager();
    try {
      await jsm.consumers.info(deps.stream, deps.durable);
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    }
    await jsm.consumers.add(deps.stream, {
      durable_name: deps.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: ACK_WAIT_NS,
      deliver_policy: DeliverPolicy.New,
      filter_subject: deps.filter,
      // Never give up on a message: a long Discord outage must not drop an alert.
      max_deliver: -1,
    });
  }

  async function handleOne(msg: JsMsg): Promise<void> {
    let failures = 0;
    for (;;) {
      let outcome: Outcome;
      try {
        outcome = await deps.handle(msg);
      } catch (err) {
        log.warn({ err, seq: msg.seq }, 'message handling failed; retrying');
        outcome = { retryInMs: backoffDelay(failures, deps.backoff) };
        failures += 1;
      }
      if (outcome === 'done') return void msg.ack();
      if (outcome === 'drop') return void msg.term();
      if (stopping) {
        // Another instance (or this one after a restart) takes it from here.
        msg.nak();
        return;
      }
      msg.working();
      await sleep(outcome.retryInMs);
      if (stopping) {
        msg.nak();
        return;
      }
    }
  }

  return {
    async start() {
      await ensure();
      const consumer = await deps.js.consumers.get(deps.stream, deps.durable);
      messages = await consumer.consume({ max_messages: 8 });
      const iter = messages;
      loop = (async () => {
        for await (const msg of iter) {
          if (stopping) {
            msg.nak();
            continue;
          }
          await handleOne(msg);
        }
      })().catch((err) => log.error({ err }, 'consumer stopped'));
    },
    async stop() {
      stopping = true;
      for (const w of [...wake]) w();
      await messages?.close();
      await loop;
    },
  };
}

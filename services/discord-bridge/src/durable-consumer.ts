import type { JetStreamClient, JsMsg } from '@hal/bus';
import { type Backoff, backoffDelay, type Logger } from '@hal/observability';
import { AckPolicy, type ConsumerMessages, DeliverPolicy, JetStreamApiError } from '@nats-io/jetstream';

/** JSConsumerNotFoundErr. */
const CONSUMER_NOT_FOUND = 10014;
/**
 * How long the server waits for an ack before it delivers a message again. A message delivered
 * to an instance that died (or hangs) is posted by the next leader after this; one still being
 * handled here, or waiting its turn, is kept by a "working" every third of it.
 */
const DEFAULT_ACK_WAIT_MS = 10_000;
/** Delivered and not yet acked, per consumer: what this instance holds (and keeps alive) at most. */
const MAX_ACK_PENDING = 64;

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
 *
 * Every delivered message is taken off the client at once into this instance's queue (the
 * server bounds it: `max_ack_pending`), so each one held here — in hand or waiting its turn —
 * is kept alive, and `ack_wait` can be short: what an instance that died had been given is
 * delivered to the next leader seconds later, not a minute later.
 */
export function createDurableConsumer(deps: {
  js: JetStreamClient;
  stream: string;
  durable: string;
  filter: string;
  log: Logger;
  backoff: Backoff;
  handle: (msg: JsMsg) => Promise<Outcome>;
  ackWaitMs?: number;
}): DurableConsumer {
  const log = deps.log.child({ consumer: deps.durable });
  const ackWaitMs = deps.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
  let messages: ConsumerMessages | undefined;
  let reader: Promise<void> | undefined;
  let worker: Promise<void> | undefined;
  let keepAlive: NodeJS.Timeout | undefined;
  let stopping = false;
  const wake = new Set<() => void>();
  /** Delivered and not yet acked, naked or termed, by stream seq: the one in hand, then the queue. */
  const held = new Map<number, JsMsg>();
  const queue: JsMsg[] = [];

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
    const wanted = { ack_wait: ackWaitMs * 1e6, max_ack_pending: MAX_ACK_PENDING };
    try {
      const { config } = await jsm.consumers.info(deps.stream, deps.durable);
      // Made by an older version (a 60 s ack_wait, the server's max_ack_pending): brought to these.
      if (config.ack_wait !== wanted.ack_wait || config.max_ack_pending !== wanted.max_ack_pending) {
        await jsm.consumers.update(deps.stream, deps.durable, wanted);
      }
      return;
    } catch (err) {
      if (!(err instanceof JetStreamApiError) || err.code !== CONSUMER_NOT_FOUND) throw err;
    }
    await jsm.consumers.add(deps.stream, {
      durable_name: deps.durable,
      ack_policy: AckPolicy.Explicit,
      ...wanted,
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
      // Kept meanwhile by the keep-alive, with everything else held.
      await sleep(outcome.retryInMs);
      if (stopping) {
        msg.nak();
        return;
      }
    }
  }

  /** Handles the queue in order, one at a time; after a stop, hands what is left back. */
  async function work(): Promise<void> {
    for (let msg = queue.shift(); msg !== undefined; msg = queue.shift()) {
      if (stopping) msg.nak();
      else await handleOne(msg);
      held.delete(msg.seq);
    }
  }

  function kick(): void {
    if (worker !== undefined) return;
    worker = work()
      .catch((err) => log.error({ err }, 'consumer stopped'))
      .finally(() => {
        worker = undefined;
        if (queue.length > 0) kick();
      });
  }

  return {
    async start() {
      stopping = false;
      await ensure();
      const consumer = await deps.js.consumers.get(deps.stream, deps.durable);
      messages = await consumer.consume({ max_messages: 8 });
      const iter = messages;
      keepAlive = setInterval(() => {
        if (!stopping) for (const msg of held.values()) msg.working();
      }, ackWaitMs / 3);
      reader = (async () => {
        for await (const msg of iter) {
          if (stopping) {
            msg.nak();
            continue;
          }
          // Delivered again while still held here (this process stalled past ack_wait): it has it.
          if (held.has(msg.seq)) continue;
          held.set(msg.seq, msg);
          queue.push(msg);
          kick();
        }
      })().catch((err) => log.error({ err }, 'consumer stopped'));
    },
    async stop() {
      stopping = true;
      clearInterval(keepAlive);
      for (const w of [...wake]) w();
      await messages?.close();
      await reader;
      await worker;
      held.clear();
    },
  };
}

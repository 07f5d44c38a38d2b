import { JetStreamApiError, type JetStreamClient, JetStreamError, type PubAck } from '@nats-io/jetstream';
import {
  createInbox,
  type Msg,
  MsgHdrsImpl,
  type NatsConnection,
  NoRespondersError,
  RequestError,
  type Subscription,
  TimeoutError,
} from '@nats-io/nats-core';

interface Pending {
  resolve(ack: PubAck): void;
  reject(err: unknown): void;
  /** performance.now() past which the publish has timed out. */
  deadline: number;
  subject: string;
}

const MSG_ID_HEADER = 'Nats-Msg-Id';
const decoder = new TextDecoder();

/**
 * The client's headers, encoded into Node's pooled Buffer memory: `TextEncoder.encode` gives each
 * publish's few dozen header bytes an ArrayBuffer of their own, and those allocations showed in the
 * gateway's GC time. Same bytes on the wire.
 */
class PooledHeaders extends MsgHdrsImpl {
  override encode(): Uint8Array {
    return Buffer.from(this.toString());
  }
}

/**
 * JetStream publishes of one connection with their acks on one inbox subscription: the same
 * wire exchange as `js.publish` (PUB with a reply inbox and `Nats-Msg-Id`, the stream's PubAck
 * back), and the same errors (JetStreamApiError with the server's code, TimeoutError, no
 * responders), without nats.js's per-request costs. Its `request()` builds two Error objects per
 * call (a RequestError for the async trace unless the connection says otherwise, and one more to
 * reject an already-settled promise on cleanup, stack captured each time), a timer and a mux
 * entry: the CPU profile of validated publishing had those errors alone at 32 % and the garbage
 * they leave at another 22 %. Here a publish is a map entry; timeouts are one timer for all of
 * them, swept oldest first (a client with a shorter timeout than an older pending publish of
 * another client on the same connection times out when that one does, never earlier).
 */
class InboxPublisher {
  readonly #nc: NatsConnection;
  readonly #prefix: string;
  readonly #sub: Subscription;
  readonly #pending = new Map<string, Pending>();
  #next = 0;
  #timer: NodeJS.Timeout | undefined;
  /** When #timer fires (performance.now()). */
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(nc: NatsConnection) {
    this.#nc = nc;
    this.#prefix = `${createInbox()}.`;
    this.#sub = nc.subscribe(`${this.#prefix}*`, { callback: (err, msg) => this.#onReply(err, msg) });
    const end = (): void => {
      publishers.delete(nc);
      this.#failAll(new RequestError('connection closed'));
    };
    this.#sub.closed.then(end, end);
  }

  publish(subject: string, data: string | Uint8Array, msgId: string, timeoutMs: number): Promise<PubAck> {
    const token = (this.#next++).toString(36);
    const h = new PooledHeaders();
    h.set(MSG_ID_HEADER, msgId);
    // A string would be encoded into an ArrayBuffer of its own, as the headers would.
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    return new Promise<PubAck>((resolve, reject) => {
      try {
        this.#nc.publish(subject, bytes, { reply: this.#prefix + token, headers: h });
      } catch (err) {
        // Closed connection, a subject or payload the client refuses: a rejection, as js.publish.
        reject(err);
        return;
      }
      const deadline = performance.now() + timeoutMs;
      this.#pending.set(token, { resolve, reject, deadline, subject });
      if (deadline < this.#timerAt) this.#schedule(deadline, timeoutMs);
    });
  }

  #onReply(err: Error | null, msg: Msg): void {
    if (err !== null) {
      this.#failAll(err);
      return;
    }
    const token = msg.subject.slice(this.#prefix.length);
    const p = this.#pending.get(token);
    if (p === undefined) return; // timed out already
    this.#pending.delete(token);
    if (msg.data.length === 0 && msg.headers?.code === 503) {
      p.reject(new NoRespondersError(p.subject));
      return;
    }
    let ack: PubAck & { error?: ConstructorParameters<typeof JetStreamApiError>[0] };
    try {
      ack = JSON.parse(decoder.decode(msg.data));
    } catch (e) {
      p.reject(e);
      return;
    }
    if (ack.error !== undefined) p.reject(new JetStreamApiError(ack.error));
    else if (typeof ack.stream !== 'string' || ack.stream === '')
      p.reject(new JetStreamError('invalid ack response'));
    else {
      ack.duplicate = ack.duplicate === true;
      p.resolve(ack);
    }
  }

  /** Rejects every publish past its deadline (the oldest come first), then waits for the next one. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = performance.now();
    for (const [token, p] of this.#pending) {
      if (p.deadline > now) {
        this.#schedule(p.deadline, p.deadline - now);
        return;
      }
      this.#pending.delete(token);
      p.reject(new TimeoutError());
    }
  }

  #schedule(at: number, inMs: number): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => this.#expire(), Math.max(1, inMs)).unref();
  }

  #failAll(err: Error): void {
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }
}

/** One inbox per connection, made at its first publish. */
const publishers = new WeakMap<NatsConnection, InboxPublisher>();
/** Each client's publish timeout (`getOptions()` copies all its options on every call). */
const timeouts = new WeakMap<JetStreamClient, number>();

/**
 * `js.publish(subject, data, { msgID })` on the client's connection and with its timeout,
 * through the connection's shared ack inbox.
 */
export function publishWithMsgId(
  js: JetStreamClient,
  subject: string,
  data: string | Uint8Array,
  msgId: string,
): Promise<PubAck> {
  const { nc } = js as unknown as { nc: NatsConnection };
  if (nc.isClosed() || nc.isDraining()) return js.publish(subject, data, { msgID: msgId });
  let publisher = publishers.get(nc);
  if (publisher === undefined) {
    publisher = new InboxPublisher(nc);
    publishers.set(nc, publisher);
  }
  let timeoutMs = timeouts.get(js);
  if (timeoutMs === undefined) {
    timeoutMs = js.getOptions().timeout ?? 5_000;
    timeouts.set(js, timeoutMs);
  }
  return publisher.publish(subject, data, msgId, timeoutMs);
}

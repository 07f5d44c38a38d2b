import {
  ErrorCode,
  errorReply,
  HalError,
  okReply,
  parseOrThrow,
  type Reply,
  replySchema,
  toHalError,
  unwrapReply,
} from '@hal/protocol';
import type { Msg, NatsConnection, Subscription } from '@nats-io/nats-core';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import type { z } from 'zod';

export interface RequestOptions {
  timeoutMs?: number;
}

/** Turns the client's request failures into the catalogue's codes, so callers never parse messages. */
export function toBusError(err: unknown, subject: string): HalError {
  if (err instanceof HalError) return err;
  if (err instanceof NoRespondersError || (err instanceof RequestError && err.isNoResponders())) {
    return new HalError(ErrorCode.NO_RESPONDERS, `nothing answers on ${subject}`, { cause: err });
  }
  if (err instanceof TimeoutError || (err instanceof RequestError && err.cause instanceof TimeoutError)) {
    return new HalError(ErrorCode.TIMEOUT, `no answer on ${subject} in time`, { cause: err });
  }
  return toHalError(err);
}

/**
 * A typed request: the body goes out as JSON; the reply must be a `Reply` whose data passes
 * `dataSchema`. A failure reply is thrown as the HalError it carries.
 */
export async function request<T extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  dataSchema: T,
  opts: RequestOptions = {},
): Promise<z.infer<T>> {
  let msg: Msg;
  try {
    msg = await nc.request(subject, JSON.stringify(body), { timeout: opts.timeoutMs ?? 5_000 });
  } catch (err) {
    throw toBusError(err, subject);
  }
  let raw: unknown;
  try {
    raw = msg.json();
  } catch (err) {
    throw new HalError(ErrorCode.INTERNAL, `reply on ${subject} is not JSON`, { cause: err });
  }
  const reply = parseOrThrow(replySchema(dataSchema), raw, `reply on ${subject}`, ErrorCode.INTERNAL);
  return unwrapReply(reply as Reply<z.infer<T>>);
}

export interface ServeOptions<T extends z.ZodType> {
  subject: string;
  /** Instances in one queue group share the load; each request is answered once. */
  queue?: string;
  schema: T;
  log: Logger;
  handler: (body: z.infer<T>, msg: Msg) => Promise<unknown>;
}

export interface Server {
  /** Stops taking requests and waits for the ones in flight to be answered. */
  stop(): Promise<void>;
}

/**
 * Answers requests with `{ok, data}` / `{ok:false, error}`. Handlers run concurrently, so one
 * slow request (a command waiting on an agent) never holds up the next.
 */
export function serve<T extends z.ZodType>(nc: NatsConnection, opts: ServeOptions<T>): Server {
  const inFlight = new Set<Promise<void>>();
  const respond = (msg: Msg, reply: Reply<unknown>): void => {
    if (!msg.reply) return;
    let text: string;
    try {
      text = JSON.stringify(reply);
    } catch (err) {
      // A handler's data that cannot be serialised (too deep, a cycle, a BigInt) is a bug or a
      // hostile answer relayed; the caller still gets an envelope instead of a timeout.
      opts.log.error({ err, subject: msg.subject }, 'reply not serialisable');
      text = JSON.stringify(
        errorReply(new HalError(ErrorCode.INTERNAL, `the answer on ${opts.subject} could not be serialised`)),
      );
    }
    try {
      msg.respond(text);
    } catch (err) {
      // Too large for max_payload, or the connection is closing: the requester times out.
      opts.log.error({ err, subject: msg.subject, bytes: text.length }, 'reply not sent');
      if (text.length > 1024) {
        try {
          msg.respond(
            JSON.stringify(
              errorReply(
                new HalError(
                  ErrorCode.PAYLOAD_TOO_LARGE,
                  `the answer on ${opts.subject} is too large to send`,
                ),
              ),
            ),
          );
        } catch {
          // The connection itself is gone; nothing more can be sent.
        }
      }
    }
  };
  const answer = async (msg: Msg): Promise<void> => {
    let reply: Reply<unknown>;
    try {
      let raw: unknown;
      try {
        raw = msg.json();
      } catch {
        throw new HalError(ErrorCode.VALIDATION_FAILED, `request on ${opts.subject} is not JSON`);
      }
      const body = parseOrThrow(opts.schema, raw, `request on ${msg.subject}`);
      reply = okReply(await opts.handler(body, msg));
    } catch (err) {
      const halErr = toHalError(err);
      if (halErr.code === ErrorCode.INTERNAL) opts.log.error({ err, subject: msg.subject }, 'request failed');
      reply = errorReply(halErr);
    }
    respond(msg, reply);
  };
  const sub: Subscription = nc.subscribe(opts.subject, {
    ...(opts.queue === undefined ? {} : { queue: opts.queue }),
    callback: (err, msg) => {
      if (err) {
        opts.log.error({ err, subject: opts.subject }, 'subscription failed');
        return;
      }
      // answer() never rejects; the catch is the last guard that no request can end the process.
      const p = answer(msg)
        .catch((e: unknown) => opts.log.error({ err: e, subject: opts.subject }, 'request handling failed'))
        .finally(() => inFlight.delete(p));
      inFlight.add(p);
    },
  });
  return {
    async stop() {
      // Already closed with its connection: nothing left to drain.
      if (!sub.isClosed()) await sub.drain();
      await Promise.allSettled([...inFlight]);
    },
  };
}

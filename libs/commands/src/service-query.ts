import { type NatsConnection, request } from '@hal/bus';
import { ErrorCode, HalError } from '@hal/protocol';
import type { z } from 'zod';

export interface ServiceQuery<T extends z.ZodType> {
  /** Who answers, for the error message: `the tracker`, `the cost service`. */
  service: string;
  /** The subject family it answers on (`hal.q.tracker`), for the error message. */
  family: string;
  subject: string;
  body: unknown;
  response: T;
  /** The longest the caller waits, all tries together. */
  timeoutMs: number;
  /**
   * When set, the first try waits only this long and, unanswered, the query is sent once more
   * with the rest of `timeoutMs`. Instances share the subject in a queue group: a request the
   * server handed to an instance that died just then is never answered, and would otherwise cost
   * the whole timeout; the second try goes to one that is alive. Only for read queries, which
   * are safe to ask twice.
   */
  firstTryMs?: number;
}

/**
 * One read query to a service over NATS request/reply. No responder means the service is not
 * running: that is UNAVAILABLE (503) for API clients, not a bus-level NO_RESPONDERS.
 */
export async function queryService<T extends z.ZodType>(
  nc: NatsConnection,
  q: ServiceQuery<T>,
): Promise<z.output<T>> {
  const deadline = Date.now() + q.timeoutMs;
  try {
    if (q.firstTryMs !== undefined && q.firstTryMs < q.timeoutMs) {
      try {
        return await request(nc, q.subject, q.body, q.response, { timeoutMs: q.firstTryMs });
      } catch (err) {
        if (!(err instanceof HalError) || err.code !== ErrorCode.TIMEOUT) throw err;
      }
    }
    return await request(nc, q.subject, q.body, q.response, {
      timeoutMs: Math.max(1, deadline - Date.now()),
    });
  } catch (err) {
    if (err instanceof HalError && err.code === ErrorCode.NO_RESPONDERS) {
      throw new HalError(ErrorCode.UNAVAILABLE, `${q.service} is not running (no answer on ${q.family})`, {
        cause: err,
      });
    }
    throw err;
  }
}

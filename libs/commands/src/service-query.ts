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
  timeoutMs: number;
}

/**
 * One read query to a service over NATS request/reply. No responder means the service is not
 * running: that is UNAVAILABLE (503) for API clients, not a bus-level NO_RESPONDERS.
 */
export async function queryService<T extends z.ZodType>(
  nc: NatsConnection,
  q: ServiceQuery<T>,
): Promise<z.output<T>> {
  try {
    return await request(nc, q.subject, q.body, q.response, { timeoutMs: q.timeoutMs });
  } catch (err) {
    if (err instanceof HalError && err.code === ErrorCode.NO_RESPONDERS) {
      throw new HalError(ErrorCode.UNAVAILABLE, `${q.service} is not running (no answer on ${q.family})`, {
        cause: err,
      });
    }
    throw err;
  }
}

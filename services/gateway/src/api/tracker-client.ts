import { type NatsConnection, request } from '@hal/bus';
import { ErrorCode, HalError, subjects, type TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import type { z } from 'zod';

type Schemas = typeof trackerQuerySchemas;
export type TrackerRequest<Q extends TrackerQuery> = z.input<Schemas[Q]['request']>;
export type TrackerResponse<Q extends TrackerQuery> = z.output<Schemas[Q]['response']>;

export interface TrackerClient {
  query<Q extends TrackerQuery>(q: Q, body: TrackerRequest<Q>): Promise<TrackerResponse<Q>>;
}

/** Reads from the tracker over `hal.q.tracker.*`; a tracker that is not running is UNAVAILABLE. */
export function createTrackerClient(nc: NatsConnection, timeoutMs = 5_000): TrackerClient {
  async function query<Q extends TrackerQuery>(q: Q, body: TrackerRequest<Q>): Promise<TrackerResponse<Q>> {
    const schema: z.ZodType = trackerQuerySchemas[q].response;
    try {
      return (await request(nc, subjects.trackerQuery(q), body, schema, { timeoutMs })) as TrackerResponse<Q>;
    } catch (err) {
      if (err instanceof HalError && err.code === ErrorCode.NO_RESPONDERS) {
        throw new HalError(ErrorCode.UNAVAILABLE, 'the tracker is not running (no answer on hal.q.tracker)', {
          cause: err,
        });
      }
      throw err;
    }
  }
  return { query };
}

import type { NatsConnection } from '@hal/bus';
import { subjects, type TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import type { z } from 'zod';
import { queryService } from './service-query.ts';

type Schemas = typeof trackerQuerySchemas;
export type TrackerRequest<Q extends TrackerQuery> = z.input<Schemas[Q]['request']>;
export type TrackerResponse<Q extends TrackerQuery> = z.output<Schemas[Q]['response']>;

export interface TrackerClient {
  query<Q extends TrackerQuery>(q: Q, body: TrackerRequest<Q>): Promise<TrackerResponse<Q>>;
}

/** Reads from the tracker over `hal.q.tracker.*`; a tracker that is not running is UNAVAILABLE. */
export function createTrackerClient(nc: NatsConnection, timeoutMs = 5_000): TrackerClient {
  async function query<Q extends TrackerQuery>(q: Q, body: TrackerRequest<Q>): Promise<TrackerResponse<Q>> {
    const response: z.ZodType = trackerQuerySchemas[q].response;
    return (await queryService(nc, {
      service: 'the tracker',
      family: 'hal.q.tracker',
      subject: subjects.trackerQuery(q),
      body,
      response,
      timeoutMs,
    })) as TrackerResponse<Q>;
  }
  return { query };
}

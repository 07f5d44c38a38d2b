import { ErrorCode, HalError, TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import type { ApiDeps } from '../deps.ts';
import { acquireStreamSlot, streamEvents } from '../event-stream.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';
import { eventsListQuery, eventsStreamQuery, sseEventData } from '../schemas.ts';

/** `Last-Event-ID` is what a browser's EventSource sends back after a reconnect. */
function lastEventId(header: string | string[] | undefined): number | undefined {
  if (header === undefined) return undefined;
  const value = Array.isArray(header) ? header[0] : header;
  if (value === undefined || !/^\d+$/.test(value.trim())) {
    throw new HalError(ErrorCode.VALIDATION_FAILED, 'Last-Event-ID must be a stream sequence number', {
      details: { issues: [{ path: 'headers.last-event-id', message: 'expected a non-negative integer' }] },
    });
  }
  return Number(value.trim());
}

export function eventRoutes(deps: ApiDeps): RouteSpec[] {
  const { tracker, js, log } = deps;
  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/events',
      summary: 'Events from the event index (filter by node, project, session, type, since, after_seq)',
      tag: 'events',
      role: 'viewer',
      query: eventsListQuery,
      response: trackerQuerySchemas.events_list.response.shape.events,
      async handler({ query }) {
        const page = await tracker.query(TrackerQuery.EVENTS_LIST, query);
        return {
          data: page.events,
          meta: { next_after_seq: page.next_after_seq, count: page.events.length },
        };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/events/stream',
      summary:
        'Server-Sent Events from HAL_EVENTS (id = stream sequence); resume with Last-Event-ID or after_seq: replay, then live',
      tag: 'events',
      role: 'viewer',
      query: eventsStreamQuery,
      response: sseEventData,
      stream: true,
      async handler({ query, req, reply, principal }) {
        const afterSeq = lastEventId(req.headers['last-event-id']) ?? query.after_seq;
        const release = acquireStreamSlot(deps.streamsPerToken, deps.maxStreamsPerToken, principal.name);
        try {
          await streamEvents(
            js,
            req,
            reply,
            { ...query, afterSeq, heartbeatMs: deps.sseHeartbeatMs, open: deps.openStreams },
            log,
          );
        } finally {
          release();
        }
        return undefined;
      },
    }),
  ];
}

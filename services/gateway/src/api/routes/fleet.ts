import { TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

const fleetSummary = z.object({
  nodes: z.object({ total: z.number(), online: z.number(), offline: z.number() }),
  sessions: trackerQuerySchemas.sessions_summary.response,
});

/** `GET /api/v1/fleet/summary`: counts for a fleet overview, without listing 10,000 sessions. */
export function fleetRoutes({ tracker }: ApiDeps): RouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/fleet/summary',
      summary: 'Nodes online/offline and sessions by state',
      tag: 'nodes',
      role: 'viewer',
      response: fleetSummary,
      async handler() {
        const [{ nodes }, sessions] = await Promise.all([
          tracker.query(TrackerQuery.NODES_LIST, {}),
          tracker.query(TrackerQuery.SESSIONS_SUMMARY, {}),
        ]);
        const online = nodes.filter((n) => n.status === 'online').length;
        return { data: { nodes: { total: nodes.length, online, offline: nodes.length - online }, sessions } };
      },
    }),
  ];
}

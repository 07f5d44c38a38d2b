import { createPolicyClient } from '@hal/commands';
import { PolicyQuery, routesTestRequestSchema, routesTestResponseSchema } from '@hal/protocol';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

/** `POST /api/v1/routes/test`: which routes an event would notify, and why, answered by the policy service. */
export function routeRuleRoutes(deps: ApiDeps): RouteSpec[] {
  const policy = createPolicyClient(deps.nc);
  return [
    defineRoute({
      method: 'POST',
      url: '/api/v1/routes/test',
      summary:
        'Explain the notification routes for an event: each rule, its conditions with actual values, the targets',
      tag: 'policies',
      role: 'viewer',
      body: routesTestRequestSchema.strict(),
      response: routesTestResponseSchema,
      async handler({ body }) {
        const data = await policy.query(PolicyQuery.ROUTES_TEST, body);
        return { data, meta: { fires: data.fires.length, waits: data.waits.length } };
      },
    }),
  ];
}

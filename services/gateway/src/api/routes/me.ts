import { z } from 'zod';
import { defineRoute, type RouteSpec } from '../route-table.ts';

const principalData = z.object({
  name: z.string(),
  role: z.enum(['viewer', 'operator', 'admin']),
});

/** `GET /api/v1/me`: whom the token belongs to, so a front-end shows only what the role may do. */
export function meRoute(): RouteSpec {
  return defineRoute({
    method: 'GET',
    url: '/api/v1/me',
    summary: "The bearer token's name (the audit actor) and role",
    tag: 'meta',
    role: 'viewer',
    response: principalData,
    async handler({ principal }) {
      return { data: { name: principal.name, role: principal.role } };
    },
  });
}

import { readAudit } from '../audit-reader.ts';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';
import { auditListData, auditListQuery } from '../schemas.ts';

export function auditRoutes({ js, log }: ApiDeps): RouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/audit',
      summary: 'The newest audit records (who did what, to what, and how it went), newest first',
      tag: 'audit',
      role: 'viewer',
      query: auditListQuery,
      response: auditListData,
      async handler({ query }) {
        const records = await readAudit(js, query, log);
        return { data: records, meta: { count: records.length } };
      },
    }),
  ];
}

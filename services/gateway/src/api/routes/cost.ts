import { COST_QUERY_TIMING, queryService } from '@hal/commands';
import {
  CostQuery,
  costQuerySchemas,
  costReportRequestSchema,
  costReportSchema,
  subjects,
} from '@hal/protocol';
import type { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

// Strict, like the other query strings: a misspelt `grop_by` is an error, not an ignored key.
// The request schema itself accepts group_by as the comma list a query string carries.
const costReportQuery = costReportRequestSchema.strict();
const budgetsResponse = costQuerySchemas.budgets.response;

function askCost<T extends z.ZodType>(deps: ApiDeps, q: CostQuery, body: unknown, response: T) {
  return queryService(deps.nc, {
    service: 'the cost service',
    family: 'hal.q.cost',
    subject: subjects.costQuery(q),
    body,
    response,
    ...COST_QUERY_TIMING,
  });
}

/** `GET /api/v1/cost` and `GET /api/v1/cost/budgets`, answered by the cost-poller over `hal.q.cost.*`. */
export function costRoutes(deps: ApiDeps): RouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/cost',
      summary:
        'Spend over a period (today, week, month or custom from/to), grouped by provider, model, project, node or session: observed vs billed, estimated share, per-day totals',
      tag: 'cost',
      role: 'viewer',
      query: costReportQuery,
      response: costReportSchema,
      async handler({ query }) {
        return { data: await askCost(deps, CostQuery.REPORT, query, costReportSchema) };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/cost/budgets',
      summary: 'Each configured budget: spend in its current period, state, burn rate and forecast',
      tag: 'cost',
      role: 'viewer',
      response: budgetsResponse.shape.budgets,
      async handler() {
        const { budgets } = await askCost(deps, CostQuery.BUDGETS, {}, budgetsResponse);
        return { data: budgets, meta: { count: budgets.length } };
      },
    }),
  ];
}

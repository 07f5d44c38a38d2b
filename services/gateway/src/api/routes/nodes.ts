import { nodeViewSchema, TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';
import { idParams, nodesListQuery } from '../schemas.ts';

export function nodeRoutes({ tracker }: ApiDeps): RouteSpec[] {
  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/nodes',
      summary: 'List nodes with status, resources and projects',
      tag: 'nodes',
      role: 'viewer',
      query: nodesListQuery,
      response: trackerQuerySchemas.nodes_list.response,
      async handler({ query }) {
        const data = await tracker.query(TrackerQuery.NODES_LIST, query);
        return { data, meta: { count: data.nodes.length } };
      },
    }),
    defineRoute({
      method: 'GET',
      url: '/api/v1/nodes/:id',
      summary: 'One node',
      tag: 'nodes',
      role: 'viewer',
      params: idParams,
      response: nodeViewSchema,
      async handler({ params }) {
        return { data: await tracker.query(TrackerQuery.NODES_GET, { node: params.id }) };
      },
    }),
  ];
}

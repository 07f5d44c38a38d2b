import { createPolicyClient } from '@hal/commands';
import { PolicyQuery, policyQuerySchemas, policyViewSchema } from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

const nameParams = z.strictObject({ name: z.string().min(1).max(64) });
const dryRunBody = z.strictObject({ dry_run: z.boolean() });
/** `hal.q.policy.*` through the command layer's client; a policy service that is not running is UNAVAILABLE. */
export function policyRoutes(deps: ApiDeps): RouteSpec[] {
  const policy = createPolicyClient(deps.nc);
  const toggle = (verb: 'enable' | 'disable') =>
    defineRoute({
      method: 'POST',
      url: `/api/v1/policies/:name/${verb}`,
      summary: `${verb === 'enable' ? 'Enable' : 'Disable'} a policy (persists; overrides the config until changed)`,
      tag: 'policies',
      role: 'admin',
      params: nameParams,
      response: policyViewSchema,
      auditAction: `policy.${verb}`,
      async handler({ params, principal, audit }) {
        audit.target.policy = params.name;
        return { data: await policy.query(verb, { name: params.name, by: principal.name }) };
      },
    });

  const dryRun = defineRoute({
    method: 'POST',
    url: '/api/v1/policies/:name/dry-run',
    summary: 'Turn dry run on or off (decide and record, but do not act); persists, overrides the config',
    tag: 'policies',
    role: 'admin',
    params: nameParams,
    body: dryRunBody,
    response: policyViewSchema,
    auditAction: 'policy.dry_run',
    async handler({ params, body, principal, audit }) {
      audit.target.policy = params.name;
      return {
        data: await policy.query(PolicyQuery.DRY_RUN, {
          name: params.name,
          dry_run: body.dry_run,
          by: principal.name,
        }),
      };
    },
  });

  return [
    defineRoute({
      method: 'GET',
      url: '/api/v1/policies',
      summary: "Each policy's config, enabled state and recent actions",
      tag: 'policies',
      role: 'viewer',
      response: policyQuerySchemas.list.response.shape.policies,
      async handler() {
        const data = await policy.query(PolicyQuery.LIST, {});
        return { data: data.policies, meta: { count: data.policies.length } };
      },
    }),
    toggle('enable'),
    toggle('disable'),
    dryRun,
  ];
}

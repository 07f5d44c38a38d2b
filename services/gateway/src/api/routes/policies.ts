import { request } from '@hal/bus';
import {
  ErrorCode,
  HalError,
  PolicyQuery,
  policyQuerySchemas,
  policyViewSchema,
  subjects,
} from '@hal/protocol';
import { z } from 'zod';
import type { ApiDeps } from '../deps.ts';
import { defineRoute, type RouteSpec } from '../route-table.ts';

const nameParams = z.strictObject({ name: z.string().min(1).max(64) });
const POLICY_TIMEOUT_MS = 5_000;

/** `hal.q.policy.*`; a policy service that is not running is UNAVAILABLE, as for the tracker. */
async function askPolicy<Q extends PolicyQuery>(
  deps: ApiDeps,
  q: Q,
  body: unknown,
): Promise<z.output<(typeof policyQuerySchemas)[Q]['response']>> {
  const schema: z.ZodType = policyQuerySchemas[q].response;
  try {
    return (await request(deps.nc, subjects.policyQuery(q), body, schema, {
      timeoutMs: POLICY_TIMEOUT_MS,
    })) as z.output<(typeof policyQuerySchemas)[Q]['response']>;
  } catch (err) {
    if (err instanceof HalError && err.code === ErrorCode.NO_RESPONDERS) {
      throw new HalError(
        ErrorCode.UNAVAILABLE,
        'the policy service is not running (no answer on hal.q.policy)',
        {
          cause: err,
        },
      );
    }
    throw err;
  }
}

export function policyRoutes(deps: ApiDeps): RouteSpec[] {
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
        return { data: await askPolicy(deps, verb, { name: params.name, by: principal.name }) };
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
        const data = await askPolicy(deps, PolicyQuery.LIST, {});
        return { data: data.policies, meta: { count: data.policies.length } };
      },
    }),
    toggle('enable'),
    toggle('disable'),
  ];
}

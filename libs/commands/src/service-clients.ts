import type { NatsConnection } from '@hal/bus';
import {
  type CostQuery,
  costQuerySchemas,
  type PolicyQuery,
  policyQuerySchemas,
  subjects,
} from '@hal/protocol';
import type { z } from 'zod';
import { queryService } from './service-query.ts';

/**
 * A month-long report by session reads many rows: up to 10 s in all, a little more than the
 * tracker's reads. The first try waits 3 s, so a request handed to a cost-poller that just died
 * is asked again of a live one well inside the reconnect window (a slow report still gets the
 * remaining 7 s on its second try).
 */
export const COST_QUERY_TIMING = { timeoutMs: 10_000, firstTryMs: 3_000 } as const;
const POLICY_TIMEOUT_MS = 5_000;

type CostSchemas = typeof costQuerySchemas;
type PolicySchemas = typeof policyQuerySchemas;

export interface CostClient {
  query<Q extends CostQuery>(
    q: Q,
    body: z.input<CostSchemas[Q]['request']>,
  ): Promise<z.output<CostSchemas[Q]['response']>>;
}

export interface PolicyClient {
  query<Q extends PolicyQuery>(
    q: Q,
    body: z.input<PolicySchemas[Q]['request']>,
  ): Promise<z.output<PolicySchemas[Q]['response']>>;
}

/** `hal.q.cost.*`, answered by the cost-poller; not running → UNAVAILABLE. */
export function createCostClient(
  nc: NatsConnection,
  timeoutMs: number = COST_QUERY_TIMING.timeoutMs,
): CostClient {
  return {
    async query(q, body) {
      const response: z.ZodType = costQuerySchemas[q].response;
      return (await queryService(nc, {
        service: 'the cost service',
        family: 'hal.q.cost',
        subject: subjects.costQuery(q),
        body,
        response,
        timeoutMs,
        firstTryMs: Math.min(COST_QUERY_TIMING.firstTryMs, timeoutMs),
      })) as never;
    },
  };
}

/** `hal.q.policy.*`, answered by the policy service; not running → UNAVAILABLE. */
export function createPolicyClient(nc: NatsConnection, timeoutMs = POLICY_TIMEOUT_MS): PolicyClient {
  return {
    async query(q, body) {
      const response: z.ZodType = policyQuerySchemas[q].response;
      return (await queryService(nc, {
        service: 'the policy service',
        family: 'hal.q.policy',
        subject: subjects.policyQuery(q),
        body,
        response,
        timeoutMs,
      })) as never;
    },
  };
}

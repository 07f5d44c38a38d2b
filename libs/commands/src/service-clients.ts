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

/** A month-long report by session reads many rows; a little more than the tracker's reads. */
const COST_TIMEOUT_MS = 10_000;
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
export function createCostClient(nc: NatsConnection, timeoutMs = COST_TIMEOUT_MS): CostClient {
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

import { type JetStreamClient, publishAudit, publishEvent } from '@hal/bus';
import type { HalMetrics, Logger } from '@hal/observability';
import {
  type EventRecord,
  EventType,
  type PolicyActionData,
  type PolicyActionRecord,
  SCHEMA_VERSION,
  SYSTEM_NODE,
} from '@hal/protocol';
import { KeyPrefix, keyOf, type StateStore } from './state-store.ts';

/** How many decisions of each policy `list` shows. */
export const RECENT_ACTIONS_KEPT = 50;

export interface DecisionTarget {
  node: string | null;
  project: string;
  session: string | null;
}

export interface DecisionLog {
  /**
   * `id` names the decision: recorded twice under one id (a new leader settling what its
   * predecessor began), the event and audit record are stored once.
   */
  record(target: DecisionTarget, data: PolicyActionData, id?: string): Promise<void>;
  recent(policy: string): Promise<PolicyActionRecord[]>;
}

/**
 * Every decision becomes a `policy.action` event (so the router can alert on it and anyone can
 * tap it with `nats sub`), an audit record, and an entry in the policy's recent actions.
 */
export function createDecisionLog(deps: {
  js: JetStreamClient;
  store: StateStore;
  log: Logger;
  metrics: HalMetrics;
  now: () => number;
}): DecisionLog {
  const { js, store, log, metrics } = deps;

  async function record(
    target: DecisionTarget,
    data: PolicyActionData,
    id: string = crypto.randomUUID(),
  ): Promise<void> {
    const time = new Date(deps.now()).toISOString();
    const node = target.node ?? SYSTEM_NODE;
    metrics.policyActionsTotal.inc({ policy: data.policy, outcome: data.decision });
    log.info(
      { policy: data.policy, decision: data.decision, session: target.session, node, reason: data.reason },
      'policy decision',
    );
    const event: EventRecord = {
      version: SCHEMA_VERSION,
      id,
      seq: 0,
      node,
      project: target.project,
      session: target.session,
      type: EventType.POLICY_ACTION,
      time,
      data: data as unknown as Record<string, unknown>,
    };
    const entry: PolicyActionRecord = {
      ...data,
      id,
      time,
      node,
      project: target.project,
      session: target.session,
    };
    // The three writes are independent: a failed audit must not hide the event, nor the reverse.
    const results = await Promise.allSettled([
      publishEvent(js, event),
      publishAudit(js, {
        id,
        time,
        actor: { kind: 'policy', id: data.policy },
        action: `policy.${data.decision}`,
        target: {
          node,
          ...(target.project === '' ? {} : { project: target.project }),
          ...(target.session === null ? {} : { session: target.session }),
        },
        params: { reason: data.reason, ...(data.command ? { command: data.command } : {}) },
        result: {
          ok: data.decision !== 'failed',
          ...(data.result?.code ? { code: data.result.code } : {}),
          ...(data.result?.message ? { message: data.result.message } : {}),
        },
        source: 'policy',
      }),
      store.mutate<PolicyActionRecord[], void>(keyOf(KeyPrefix.ACTIONS, data.policy), (cur) => ({
        // A decision recorded twice under one id (a stalled leader and its successor) is listed once.
        ...(cur?.some((e) => e.id === id)
          ? {}
          : { value: [entry, ...(cur ?? [])].slice(0, RECENT_ACTIONS_KEPT) }),
        result: undefined,
      })),
    ]);
    for (const r of results) {
      if (r.status === 'rejected')
        log.error({ err: r.reason, policy: data.policy }, 'policy decision not recorded');
    }
  }

  async function recent(policy: string): Promise<PolicyActionRecord[]> {
    return (await store.get<PolicyActionRecord[]>(keyOf(KeyPrefix.ACTIONS, policy)))?.value ?? [];
  }

  return { record, recent };
}

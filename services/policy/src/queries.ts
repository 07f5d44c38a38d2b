import { type NatsConnection, type Server, serve } from '@hal/bus';
import { type PoliciesConfig, PolicyName } from '@hal/config';
import type { Logger } from '@hal/observability';
import {
  ErrorCode,
  HalError,
  PolicyQuery,
  type PolicyView,
  policyQuerySchemas,
  QueueGroup,
  subjects,
} from '@hal/protocol';
import type { DecisionLog } from './decision-log.ts';
import type { Overrides } from './overrides.ts';

const NAMES = Object.values(PolicyName);

function isPolicyName(name: string): name is PolicyName {
  return (NAMES as string[]).includes(name);
}

/** `hal.q.policy.list|enable|disable`, answered by one instance of the queue group. */
export function servePolicyQueries(deps: {
  nc: NatsConnection;
  policies: PoliciesConfig;
  overrides: Overrides;
  decisions: DecisionLog;
  log: Logger;
  now: () => number;
}): Server[] {
  const { nc, log } = deps;

  async function view(name: PolicyName): Promise<PolicyView> {
    const cfg = deps.policies[name];
    const override = deps.overrides.get(name);
    return {
      name,
      enabled: override?.enabled ?? cfg.enabled,
      enabled_source: override === undefined ? 'config' : 'override',
      dry_run: cfg.dry_run,
      config: { ...cfg },
      recent_actions: await deps.decisions.recent(name),
    };
  }

  const toggle = (enabled: boolean) => async (body: { name: string; by?: string | undefined }) => {
    if (!isPolicyName(body.name)) {
      throw new HalError(ErrorCode.NOT_FOUND, `no policy "${body.name}"; policies are: ${NAMES.join(', ')}`, {
        details: { policy: body.name },
      });
    }
    await deps.overrides.set(body.name, enabled, body.by ?? 'unknown', deps.now());
    log.info({ policy: body.name, enabled, by: body.by }, 'policy toggled');
    return view(body.name);
  };

  return [
    serve(nc, {
      subject: subjects.policyQuery(PolicyQuery.LIST),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.list.request,
      log,
      handler: async () => ({ policies: await Promise.all(NAMES.map(view)) }),
    }),
    serve(nc, {
      subject: subjects.policyQuery(PolicyQuery.ENABLE),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.enable.request,
      log,
      handler: toggle(true),
    }),
    serve(nc, {
      subject: subjects.policyQuery(PolicyQuery.DISABLE),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.disable.request,
      log,
      handler: toggle(false),
    }),
  ];
}

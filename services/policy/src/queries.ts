import { type NatsConnection, type Server, serve } from '@hal/bus';
import { type PoliciesConfig, PolicyName, type RouteRule } from '@hal/config';
import type { Logger } from '@hal/observability';
import {
  ErrorCode,
  type EventRecord,
  HalError,
  PolicyQuery,
  type PolicyView,
  policyQuerySchemas,
  QueueGroup,
  type RoutesTestResponse,
  SCHEMA_VERSION,
  subjects,
} from '@hal/protocol';
import type { DecisionLog } from './decision-log.ts';
import type { Overrides } from './overrides.ts';
import { type ConditionDeps, evaluateWhen } from './route-conditions.ts';
import { ruleMismatch, severityOf } from './router.ts';

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
  routes: readonly RouteRule[];
  conditions: ConditionDeps;
}): Server[] {
  const { nc, log } = deps;

  async function view(name: PolicyName): Promise<PolicyView> {
    const cfg = deps.policies[name];
    const override = deps.overrides.get(name);
    return {
      name,
      enabled: override?.enabled ?? cfg.enabled,
      enabled_source: override?.enabled === undefined ? 'config' : 'override',
      dry_run: deps.overrides.isDryRun(name),
      config: { ...cfg },
      recent_actions: await deps.decisions.recent(name),
    };
  }

  const known = (name: string): PolicyName => {
    if (!isPolicyName(name)) {
      throw new HalError(ErrorCode.NOT_FOUND, `no policy "${name}"; policies are: ${NAMES.join(', ')}`, {
        details: { policy: name },
      });
    }
    return name;
  };

  const toggle = (enabled: boolean) => async (body: { name: string; by?: string | undefined }) => {
    const name = known(body.name);
    await deps.overrides.set(name, enabled, body.by ?? 'unknown', deps.now());
    log.info({ policy: name, enabled, by: body.by }, 'policy toggled');
    return view(name);
  };

  const dryRun = async (body: { name: string; dry_run: boolean; by?: string | undefined }) => {
    const name = known(body.name);
    await deps.overrides.setDryRun(name, body.dry_run, body.by ?? 'unknown', deps.now());
    log.info({ policy: name, dry_run: body.dry_run, by: body.by }, 'policy dry run changed');
    return view(name);
  };

  /** Explains each route for an event as if it arrived now; counts are read, never recorded. */
  async function routesTest(body: {
    type: string;
    node: string;
    project: string;
    session: string | null;
    data: Record<string, unknown>;
  }): Promise<RoutesTestResponse> {
    const now = deps.now();
    const event: EventRecord = {
      version: SCHEMA_VERSION,
      id: crypto.randomUUID(),
      seq: 0,
      node: body.node,
      project: body.project,
      session: body.session,
      type: body.type,
      time: new Date(now).toISOString(),
      data: body.data,
    };
    const severity = severityOf(event);
    const fires = new Set<string>();
    const waits = new Set<string>();
    const rules: RoutesTestResponse['rules'] = [];
    for (const [index, rule] of deps.routes.entries()) {
      const base = {
        index,
        match: rule.match,
        target: rule.target,
        ...(rule.where ? { where: { ...rule.where } } : {}),
        ...(rule.when ? { when: { ...rule.when } } : {}),
      };
      const mismatch = ruleMismatch(rule, event, severity);
      if (mismatch !== undefined) {
        rules.push({ ...base, outcome: 'no', reason: mismatch, checks: [] });
        continue;
      }
      if (rule.when === undefined) {
        fires.add(rule.target);
        rules.push({ ...base, outcome: 'fires', reason: 'matches; no conditions', checks: [] });
        continue;
      }
      const verdict = await evaluateWhen(deps.conditions, rule, event, now, { record: false });
      const failed = verdict.checks
        .filter((c) => !c.holds)
        .map((c) => `${c.condition} is ${c.actual}, needs ${c.expected}`);
      if (verdict.outcome === 'fires') fires.add(rule.target);
      if (verdict.outcome === 'waits') waits.add(rule.target);
      rules.push({
        ...base,
        outcome: verdict.outcome,
        reason:
          verdict.outcome === 'fires'
            ? 'matches and every condition holds'
            : verdict.outcome === 'waits'
              ? `matches; waits until ${failed.join('; ')}`
              : `matches, but ${failed.join('; ')}`,
        checks: verdict.checks,
      });
    }
    for (const t of fires) waits.delete(t);
    return { severity, fires: [...fires], waits: [...waits], rules };
  }

  return [
    serve(nc, {
      subject: subjects.policyQuery(PolicyQuery.ROUTES_TEST),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.routes_test.request,
      log,
      handler: routesTest,
    }),
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
    serve(nc, {
      subject: subjects.policyQuery(PolicyQuery.DRY_RUN),
      queue: QueueGroup.POLICY,
      schema: policyQuerySchemas.dry_run.request,
      log,
      handler: dryRun,
    }),
  ];
}

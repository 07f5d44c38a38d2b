import { ROUTE_TARGET_PATTERN, type RouteRule } from '@hal/config';
import { type EventRecord, EventType, Severity } from '@hal/protocol';

export interface RouteTarget {
  kind: 'discord' | 'webhook';
  /** The discord route (`alerts`, `dev-log`) or the webhook's name. */
  name: string;
  /** `discord#alerts`, as written in the config. */
  id: string;
}

const globCache = new Map<string, RegExp>();

/** `*` matches any run of characters, dots included: `cost.*` matches `cost.budget_exceeded`. */
export function globMatches(pattern: string, type: string): boolean {
  let re = globCache.get(pattern);
  if (re === undefined) {
    const body = pattern
      .split('*')
      .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
      .join('.*');
    re = new RegExp(`^${body}$`);
    globCache.set(pattern, re);
  }
  return re.test(type);
}

/** How loud an event is, for route filters and the notification itself. */
export function severityOf(event: EventRecord): Severity {
  const declared = event.data.severity;
  if (declared === Severity.INFO || declared === Severity.WARNING || declared === Severity.CRITICAL)
    return declared;
  switch (event.type) {
    case EventType.COST_BUDGET_EXCEEDED:
      return Severity.CRITICAL;
    case EventType.SESSION_ERROR:
    case EventType.PERMISSION_ASKED:
    case EventType.QUESTION_ASKED:
    case EventType.NODE_OFFLINE:
    case EventType.AGENT_OPENCODE_DOWN:
    case EventType.AGENT_SPOOL_OVERFLOW:
    case EventType.COST_BUDGET_WARNING:
    case EventType.COST_FORECAST_EXCEEDS_BUDGET:
    case EventType.ENV_CHECK_FAIL:
    case EventType.ENV_PROVISION_MANUAL_REQUIRED:
      return Severity.WARNING;
    default:
      return Severity.INFO;
  }
}

export function parseTarget(target: string): RouteTarget | undefined {
  const m = ROUTE_TARGET_PATTERN.exec(target);
  if (!m) return undefined;
  return { kind: m[1] as RouteTarget['kind'], name: m[2] as string, id: target };
}

/** Why a rule does or does not match an event, before any `when` condition. */
export function ruleMismatch(rule: RouteRule, event: EventRecord, severity: Severity): string | undefined {
  if (!globMatches(rule.match, event.type)) return `type ${event.type} does not match "${rule.match}"`;
  const w = rule.where;
  if (w?.node !== undefined && w.node !== event.node) return `node ${event.node} is not ${w.node}`;
  if (w?.project !== undefined && w.project !== event.project)
    return `project "${event.project}" is not ${w.project}`;
  if (w?.severity !== undefined && w.severity !== severity)
    return `severity ${severity} is not ${w.severity}`;
  return undefined;
}

/** The rules matching the event by type and `where` (conditions not evaluated), in order. */
export function matchingRules(
  routes: readonly RouteRule[],
  event: EventRecord,
  severity: Severity,
): Array<{ index: number; rule: RouteRule; target: RouteTarget }> {
  const out: Array<{ index: number; rule: RouteRule; target: RouteTarget }> = [];
  routes.forEach((rule, index) => {
    if (ruleMismatch(rule, event, severity) !== undefined) return;
    const target = parseTarget(rule.target);
    if (target) out.push({ index, rule, target });
  });
  return out;
}

/**
 * Every target of a matching rule without conditions, each once, in rule order. Rules with a
 * `when` need facts (durations, cost, counts): the notifier evaluates those itself.
 */
export function routeEvent(
  routes: readonly RouteRule[],
  event: EventRecord,
  severity: Severity,
): RouteTarget[] {
  const out = new Map<string, RouteTarget>();
  for (const { rule, target } of matchingRules(routes, event, severity)) {
    if (rule.when !== undefined) continue;
    if (!out.has(target.id)) out.set(target.id, target);
  }
  return [...out.values()];
}

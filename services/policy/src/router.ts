import { ROUTE_TARGET_PATTERN, type RouteRule } from '@hal/config';
import { type EventRecord, EventType, Severity } from '@hal/protocol';

export interface RouteTarget {
  kind: 'discord' | 'webhook';
  /** The discord route (`alerts`, `dev-log`) or the webhook's name. */
  name: string;
  /** `discord#alerts`, as written in the config. */
  id: string;
}

/**
 * `*` matches any run of characters, dots included: `cost.*` matches `cost.budget_exceeded`.
 * Matched without a regular expression: a pattern like `*a*a*a*` on a built regex backtracks
 * polynomially; this walk is O(pattern × type) at worst, and the type is at most 128 characters.
 */
export function globMatches(pattern: string, type: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < type.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === type[t]) {
      p++;
      t++;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p++;
      resume = t;
    } else if (star >= 0) {
      p = star + 1;
      t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p++;
  return p === pattern.length;
}

/** How loud an event is, for route filters and the notification itself. */
export function severityOf(event: EventRecord): Severity {
  const declared = event.data.severity;
  if (declared === Severity.INFO || declared === Severity.WARNING || declared === Severity.CRITICAL)
    return declared;
  switch (event.type) {
    case EventType.COST_BUDGET_EXCEEDED:
    case EventType.SECURITY_SESSION_CONFLICT:
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

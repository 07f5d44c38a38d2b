import { createHash } from 'node:crypto';
import { type NatsConnection, request } from '@hal/bus';
import type { CountScope, NumberComparison, RouteRule } from '@hal/config';
import {
  CostQuery,
  controlPlaneTime,
  costQuerySchemas,
  type EventRecord,
  EventType,
  subjects,
} from '@hal/protocol';
import type { NodeFacts, SessionFacts } from './facts.ts';
import { KeyPrefix, keyOf, type StateStore } from './state-store.ts';

type CountPer = CountScope;

/** One condition of a route, evaluated: what it asks, what the facts say, whether it holds. */
export interface ConditionCheck {
  condition: 'state_for_seconds' | 'cost_today_usd' | 'count';
  expected: string;
  actual: string;
  holds: boolean;
}

export type WhenOutcome =
  /** Every condition holds now. */
  | { outcome: 'fires'; checks: ConditionCheck[] }
  /** Only the duration is missing and the state is current: check again on the tick. */
  | { outcome: 'waits'; checks: ConditionCheck[]; since: number }
  | { outcome: 'no'; checks: ConditionCheck[] };

/** A stable id of a rule (its JSON), so pending routes and counters survive a restart. */
export function ruleKey(rule: RouteRule): string {
  return createHash('sha256').update(JSON.stringify(rule)).digest('hex').slice(0, 16);
}

export function describeComparison(c: NumberComparison): string {
  const words: Array<[keyof NumberComparison, string]> = [
    ['gt', '>'],
    ['gte', '≥'],
    ['lt', '<'],
    ['lte', '≤'],
    ['eq', '='],
  ];
  return words
    .filter(([k]) => c[k] !== undefined)
    .map(([k, sym]) => `${sym} ${c[k]}`)
    .join(' and ');
}

export function compare(value: number, c: NumberComparison): boolean {
  if (c.gt !== undefined && !(value > c.gt)) return false;
  if (c.gte !== undefined && !(value >= c.gte)) return false;
  if (c.lt !== undefined && !(value < c.lt)) return false;
  if (c.lte !== undefined && !(value <= c.lte)) return false;
  if (c.eq !== undefined && value !== c.eq) return false;
  return true;
}

/** The state an event announces, as the policy facts name it, and where its start is kept. */
function announcedState(
  type: string,
):
  | { kind: 'session'; state: SessionFacts['state']; since: (f: SessionFacts) => number | null }
  | { kind: 'node' }
  | undefined {
  switch (type) {
    case EventType.SESSION_IDLE:
      return { kind: 'session', state: 'idle', since: (f) => f.idle_since };
    case EventType.SESSION_BUSY:
      return { kind: 'session', state: 'running', since: () => null };
    case EventType.PERMISSION_ASKED:
    case EventType.QUESTION_ASKED:
      return { kind: 'session', state: 'waiting_input', since: (f) => f.waiting_since };
    case EventType.NODE_OFFLINE:
      return { kind: 'node' };
    default:
      return undefined;
  }
}

export interface ConditionDeps {
  nc: NatsConnection;
  store: StateStore;
  /** How long a cost answer may take before the condition counts as not known. */
  costTimeoutMs?: number;
}

/**
 * Since when the event's session (or node) has been in the state the event announced, or null
 * when it has left it. Without `recorded` the event is the one being handled (or tested) now: it
 * announces the state, so the state holds and began with it — or earlier, when the facts were
 * already in it (a repeated idle keeps its start). With `recorded` (a pending route on the
 * tick) the facts decide, and `recorded` stands in for a start the facts do not keep.
 */
export async function stateSince(
  deps: ConditionDeps,
  event: EventRecord,
  recorded?: number,
): Promise<number | null> {
  const announced = announcedState(event.type);
  const eventTime = controlPlaneTime(event) ?? Date.parse(event.time);
  if (announced === undefined) return null;
  const recheck = recorded !== undefined;
  if (announced.kind === 'node') {
    const node = (await deps.store.get<NodeFacts>(keyOf(KeyPrefix.NODE, event.node)))?.value;
    if (node === undefined || node.online)
      return recheck ? (node === undefined ? recorded : null) : eventTime;
    return node.offline_since ?? recorded ?? eventTime;
  }
  if (event.session === null) return null;
  const facts = (await deps.store.get<SessionFacts>(keyOf(KeyPrefix.SESSION, event.session)))?.value;
  if (facts === undefined) return recorded ?? eventTime;
  if (facts.state !== announced.state) return recheck ? null : eventTime;
  return announced.since(facts) ?? recorded ?? eventTime;
}

/** Today's spend (UTC) of a project, or of the fleet for '' — the larger of observed and billed. */
export async function costTodayUsd(deps: ConditionDeps, project: string): Promise<number | undefined> {
  try {
    const report = await request(
      deps.nc,
      subjects.costQuery(CostQuery.REPORT),
      { period: 'today', group_by: project === '' ? [] : ['project'] },
      costQuerySchemas.report.response,
      { timeoutMs: deps.costTimeoutMs ?? 2_000 },
    );
    if (project === '') return Math.max(report.totals.observed_usd, report.totals.billed_usd);
    const row = report.rows.find((r) => r.key.project === project);
    return row === undefined ? 0 : Math.max(row.observed_usd, row.billed_usd ?? 0);
  } catch {
    return undefined;
  }
}

function scopeOf(event: EventRecord, per: CountPer | undefined): string {
  const scope = per ?? (event.session !== null ? 'session' : 'node');
  switch (scope) {
    case 'session':
      return `session:${event.session ?? ''}`;
    case 'node':
      return `node:${event.node}`;
    case 'project':
      return `project:${event.project}`;
    default:
      return 'fleet';
  }
}

const MAX_COUNTED = 10_000;

/**
 * Events the rule matched in the window ending at this event, this one included. `record`
 * false (routes test) counts without remembering the event.
 */
export async function countInWindow(
  deps: ConditionDeps,
  rule: RouteRule,
  event: EventRecord,
  windowSeconds: number,
  per: CountPer | undefined,
  record: boolean,
): Promise<number> {
  const at = controlPlaneTime(event) ?? Date.parse(event.time);
  const from = at - windowSeconds * 1000;
  const key = keyOf(KeyPrefix.NOTIFY_COUNT, ruleKey(rule), scopeOf(event, per));
  if (!record) {
    const cur = (await deps.store.get<{ times: number[]; ids: string[] }>(key))?.value;
    return (cur?.times ?? []).filter((t) => t > from && t <= at).length + 1;
  }
  return deps.store.mutate<{ times: number[]; ids: string[] }, number>(key, (cur) => {
    const times: number[] = [];
    const ids: string[] = [];
    (cur?.times ?? []).forEach((t, i) => {
      if (t > from) {
        times.push(t);
        ids.push(cur?.ids[i] ?? '');
      }
    });
    // A redelivered event is counted once.
    if (!ids.includes(event.id)) {
      times.push(at);
      ids.push(event.id);
    }
    const keep = times.length - MAX_COUNTED;
    const value = keep > 0 ? { times: times.slice(keep), ids: ids.slice(keep) } : { times, ids };
    return { value, result: value.times.filter((t) => t <= at).length };
  });
}

/**
 * Evaluates a rule's `when` for an event that matched it. Cost and count are facts of the
 * event's moment; the duration may come later, so a route whose only missing piece is the
 * duration of a state that is still current `waits`.
 */
export async function evaluateWhen(
  deps: ConditionDeps,
  rule: RouteRule,
  event: EventRecord,
  now: number,
  opts: { record: boolean },
): Promise<WhenOutcome> {
  const when = rule.when ?? {};
  const checks: ConditionCheck[] = [];
  if (when.cost_today_usd !== undefined) {
    const cost = await costTodayUsd(deps, event.project);
    checks.push({
      condition: 'cost_today_usd',
      expected: describeComparison(when.cost_today_usd),
      actual: cost === undefined ? 'unknown (the cost service did not answer)' : cost.toFixed(2),
      holds: cost !== undefined && compare(cost, when.cost_today_usd),
    });
  }
  if (when.count !== undefined) {
    const c = when.count;
    const n = await countInWindow(deps, rule, event, c.window_seconds, c.per, opts.record);
    checks.push({
      condition: 'count',
      expected: `${describeComparison(c)} in ${c.window_seconds} s per ${c.per ?? (event.session !== null ? 'session' : 'node')}`,
      actual: String(n),
      holds: compare(n, c),
    });
  }
  let since: number | null = null;
  if (when.state_for_seconds !== undefined) {
    since = await stateSince(deps, event);
    const seconds = since === null ? null : Math.max(0, Math.floor((now - since) / 1000));
    checks.push({
      condition: 'state_for_seconds',
      expected: describeComparison(when.state_for_seconds),
      actual: seconds === null ? 'the state has ended' : String(seconds),
      holds: seconds !== null && compare(seconds, when.state_for_seconds),
    });
  }
  if (checks.every((c) => c.holds)) return { outcome: 'fires', checks };
  const others = checks.filter((c) => c.condition !== 'state_for_seconds');
  const duration = when.state_for_seconds;
  // Only a lower bound on the duration can become true by waiting.
  const canWait = duration !== undefined && (duration.gt !== undefined || duration.gte !== undefined);
  if (since !== null && canWait && others.every((c) => c.holds)) return { outcome: 'waits', checks, since };
  return { outcome: 'no', checks };
}

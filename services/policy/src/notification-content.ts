import { createHash } from 'node:crypto';
import {
  type EventRecord,
  EventType,
  envManualRequiredDataSchema,
  type Notification,
  type Severity,
} from '@hal/protocol';

export type Content = Pick<Notification, 'kind' | 'title' | 'body' | 'fields' | 'actions' | 'severity'>;
type Action = Notification['actions'][number];

/** A uuid derived from a string: the same event and target always give the same notification id. */
export function stableUuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${((Number.parseInt(h[16] ?? '0', 16) & 3) | 8).toString(16)}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
const clip = (s: string, n: number) => (s.length > n ? `${s.slice(0, n - 1)}…` : s);

function sessionAction(label: string, session: string, verb: 'resume' | 'restart' | 'kill'): Action {
  return {
    label,
    command: { method: 'POST', path: `/api/v1/sessions/${encodeURIComponent(session)}/${verb}` },
  };
}

function sessionActions(session: string | null): Action[] {
  if (session === null) return [];
  return [
    sessionAction('Resume', session, 'resume'),
    sessionAction('Restart', session, 'restart'),
    sessionAction('Kill', session, 'kill'),
  ];
}

/** What people read for one event: title, body, fields, and the API calls its buttons run. */
export function contentOf(event: EventRecord, severity: Severity): Content {
  const d = event.data;
  const fields: Content['fields'] = [];
  if (event.session !== null) fields.push({ name: 'Session', value: event.session });
  fields.push({ name: 'Host', value: event.node });
  if (event.project !== '') fields.push({ name: 'Project', value: event.project });
  const base = { kind: event.type, severity, fields };
  switch (event.type) {
    case EventType.SESSION_ERROR:
      return {
        ...base,
        title: `Session error: ${clip(str(d.kind) ?? 'unknown', 200)}`,
        body: clip(str(d.message) ?? 'The session stopped with an error.', 4000),
        actions: sessionActions(event.session),
      };
    case EventType.PERMISSION_ASKED: {
      const id = str(d.permission_id);
      const patterns = Array.isArray(d.patterns)
        ? d.patterns.filter((p) => typeof p === 'string').join(', ')
        : '';
      const path = `/api/v1/sessions/${encodeURIComponent(event.session ?? '')}/permissions/${encodeURIComponent(id ?? '')}`;
      return {
        ...base,
        title: clip(`Permission requested: ${str(d.title) ?? str(d.permission) ?? 'unknown'}`, 256),
        body: clip(`${str(d.permission) ?? 'permission'}${patterns ? ` on ${patterns}` : ''}`, 4000),
        actions:
          id === undefined || event.session === null
            ? []
            : [
                { label: 'Approve once', command: { method: 'POST', path, body: { response: 'once' } } },
                { label: 'Always allow', command: { method: 'POST', path, body: { response: 'always' } } },
                { label: 'Reject', command: { method: 'POST', path, body: { response: 'reject' } } },
              ],
      };
    }
    case EventType.QUESTION_ASKED:
      return {
        ...base,
        title: 'Session is asking a question',
        body: clip(str(d.question) ?? str(d.title) ?? 'The session waits for an answer.', 4000),
        actions: [],
      };
    case EventType.NODE_OFFLINE:
      return {
        ...base,
        title: `Node ${clip(event.node, 200)} offline`,
        body: `Reason: ${str(d.reason) ?? 'unknown'}. Its sessions are unreachable until it reconnects.`,
        actions: [],
      };
    case EventType.ENV_PROVISION_MANUAL_REQUIRED: {
      // The agent's words, so only what fits the schema is shown; a bad payload gets the default card.
      const parsed = envManualRequiredDataSchema.safeParse(d);
      if (!parsed.success) return genericContent(event, base);
      const { pending, kept } = parsed.data;
      const risky = pending.filter((p) => p.kind === 'risky');
      const lines = [
        ...pending.map((p) => {
          const how = p.kind === 'risky' ? 'needs approval' : 'needs a person';
          const cmd = p.command ? `\n  \`${p.command.join(' ')}\`` : '';
          return `• ${p.id} (${how}): ${p.action}${cmd}`;
        }),
        ...kept.map((k) => `• ${k.file}: changed locally, kept (see halctl env drift)`),
      ];
      const path = `/api/v1/env/approve/${encodeURIComponent(event.node)}`;
      return {
        ...base,
        title: clip(
          `${event.node}/${event.project}: ${pending.length + kept.length} environment fix(es) wait for a person`,
          256,
        ),
        body: clip(lines.join('\n'), 4000),
        actions: risky.slice(0, 5).map((p) => ({
          label: clip(`Approve ${p.id}`, 80),
          command: { method: 'POST', path, body: { project: event.project, item: p.id } },
        })),
      };
    }
    case EventType.POLICY_ACTION: {
      const policy = str(d.policy) ?? 'policy';
      fields.push(
        { name: 'Policy', value: policy },
        { name: 'Decision', value: str(d.decision) ?? 'unknown' },
      );
      return {
        ...base,
        kind: `policy.${policy}`,
        title: clip(str(d.alert) ?? `Policy ${policy}: ${str(d.decision) ?? 'decision'}`, 256),
        body: clip(str(d.reason) ?? '', 4000),
        actions: sessionActions(event.session),
      };
    }
    case EventType.COST_BUDGET_EXCEEDED:
    case EventType.COST_BUDGET_WARNING:
    case EventType.COST_FORECAST_EXCEEDS_BUDGET:
      return budgetContent(event, base);
    default:
      return genericContent(event, base);
  }
}

const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const usd = (v: number | undefined) => (v === undefined ? '?' : `$${v.toFixed(2)}`);

/** A budget crossed (the cost poller's events): which budget, spent of limit, for which period. */
function budgetContent(event: EventRecord, base: Pick<Content, 'kind' | 'severity' | 'fields'>): Content {
  const d = event.data;
  const budget = clip(str(d.budget) ?? 'budget', 100);
  const spent = num(d.spent_usd);
  const limit = num(d.limit_usd);
  const share = num(d.share);
  const forecast = num(d.forecast_usd);
  const period = str(d.period_key) ?? str(d.period) ?? '';
  const scope = str(d.scope) ?? (event.session ? 'session' : 'fleet');
  const of = `${usd(spent)} of ${usd(limit)}${period ? ` (${period})` : ''}`;
  const title =
    event.type === EventType.COST_BUDGET_EXCEEDED
      ? `Budget exceeded: ${budget} — ${of}`
      : event.type === EventType.COST_BUDGET_WARNING
        ? `Budget at ${share === undefined ? '?' : Math.round(share * 100)} %: ${budget} — ${of}`
        : `Budget forecast over: ${budget} heading for ${usd(forecast)} of ${usd(limit)}${period ? ` (${period})` : ''}`;
  base.fields.push(
    { name: 'Budget', value: `${budget} (${scope}, ${str(d.period) ?? 'period'})` },
    { name: 'Spent', value: usd(spent) },
    { name: 'Limit', value: usd(limit) },
  );
  const provider = str(d.provider);
  if (provider) base.fields.push({ name: 'Provider', value: provider });
  if (forecast !== undefined) base.fields.push({ name: 'Forecast', value: usd(forecast) });
  const burn = num(d.burn_rate_usd_per_hour);
  if (burn !== undefined) base.fields.push({ name: 'Burn rate', value: `${usd(burn)}/h` });
  return {
    ...base,
    title: clip(title, 256),
    body: clip(
      event.session
        ? `The ${scope} budget "${budget}" is ${event.type === EventType.COST_BUDGET_EXCEEDED ? 'spent' : 'nearly spent'}: ${of}. Kill stops the session; Acknowledge records that someone saw it.`
        : `The ${scope} budget "${budget}": ${of}.`,
      4000,
    ),
    actions: event.session === null ? [] : [sessionAction('Kill', event.session, 'kill')],
  };
}

/** Any other event: its type as the title, its plain fields as the body. */
function genericContent(event: EventRecord, base: Pick<Content, 'kind' | 'severity' | 'fields'>): Content {
  const summary = Object.entries(event.data)
    .filter(([, v]) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
    .map(([k, v]) => `${k}: ${String(v)}`)
    .join('\n');
  return {
    ...base,
    title: clip(`${event.type}${event.session ? ` — ${event.session}` : ''}`, 256),
    body: clip(summary === '' ? event.type : summary, 4000),
    actions: [],
  };
}

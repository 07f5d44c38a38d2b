import { ErrorCode, HalError } from './errors.ts';
import { LIMITS } from './limits.ts';

/**
 * Every NATS subject and stream name of HAL-O-SWARM is built here and nowhere else.
 *
 * Ids (nodes, projects, sessions, routes) come from users and hosts, so they may hold `.`,
 * `*`, `>` or spaces, which would split a token or turn it into a wildcard. `escapeToken`
 * keeps `[A-Za-z0-9_-]` as is and writes every other byte of the UTF-8 form as `%XX`, so a
 * token is always one literal subject token and `unescapeToken` gives the id back. The empty
 * id (an event that belongs to no project) is the lone token `%`, which no escaped id can be.
 */
const SAFE = /^[A-Za-z0-9_-]$/;
/** The usual id (`ses_…`, a host name): nothing to escape, decided by one regex test, not one per character. */
const ALL_SAFE = /^[A-Za-z0-9_-]+$/;
const EMPTY_TOKEN = '%';

export function escapeToken(id: string): string {
  if (id === '') return EMPTY_TOKEN;
  if (ALL_SAFE.test(id)) return id;
  let out = '';
  for (const ch of id) {
    if (SAFE.test(ch)) {
      out += ch;
      continue;
    }
    for (const byte of Buffer.from(ch, 'utf8')) out += `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** True when `id` escapes to a subject token of at most LIMITS.idTokenBytes. */
export function fitsSubjectToken(id: string): boolean {
  // Every character escapes to at least one byte: a longer id cannot fit, and is not escaped at all.
  return id.length <= LIMITS.idTokenBytes && escapeToken(id).length <= LIMITS.idTokenBytes;
}

/** The escaped token of an id, or LIMIT_EXCEEDED naming what the id is. */
function token(id: string, what: string): string {
  const escaped = id.length <= LIMITS.idTokenBytes ? escapeToken(id) : undefined;
  if (escaped === undefined || escaped.length > LIMITS.idTokenBytes) {
    throw new HalError(
      ErrorCode.LIMIT_EXCEEDED,
      `${what} "${id.slice(0, 40)}${id.length > 40 ? '…' : ''}" is too long for a subject: ${
        escaped?.length ?? `over ${LIMITS.idTokenBytes}`
      } bytes once escaped (limit ${LIMITS.idTokenBytes})`,
    );
  }
  return escaped;
}

/** Every builder returns through here: nats-server drops the connection that sends a longer line. */
function bounded(subject: string): string {
  // Escaped tokens and types are ASCII, so the length is the byte count.
  if (subject.length > LIMITS.subjectBytes) {
    throw new HalError(
      ErrorCode.LIMIT_EXCEEDED,
      `subject of ${subject.length} bytes is longer than ${LIMITS.subjectBytes} (${subject.slice(0, 40)}…)`,
    );
  }
  return subject;
}

export function unescapeToken(token: string): string {
  if (token === EMPTY_TOKEN) return '';
  if (!/^(?:[A-Za-z0-9_-]|%[0-9A-F]{2})+$/.test(token)) {
    throw new HalError(ErrorCode.VALIDATION_FAILED, `subject token "${token}" is not an escaped id`);
  }
  return decodeURIComponent(token);
}

/** Event types are a dotted vocabulary (`session.idle`, `opencode.file.edited`): lowercase words only. */
const TYPE_PATTERN = /^[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*$/;
/** A type filter may also use `*` for one word and a final `>` for the rest. */
const TYPE_FILTER_PATTERN = /^(?:[a-z][a-z0-9_]*|\*)(?:\.(?:[a-z][a-z0-9_]*|\*))*(?:\.>)?$|^>$/;

export function isEventType(type: string): boolean {
  return TYPE_PATTERN.test(type);
}

function checkType(type: string): string {
  if (type.length > LIMITS.eventTypeChars) {
    throw new HalError(
      ErrorCode.VALIDATION_FAILED,
      `event type "${type.slice(0, 40)}…" is longer than ${LIMITS.eventTypeChars} characters`,
    );
  }
  if (!TYPE_PATTERN.test(type)) {
    throw new HalError(
      ErrorCode.VALIDATION_FAILED,
      `event type "${type}" must be lowercase words separated by dots, like "session.idle"`,
    );
  }
  return type;
}

const PREFIX = 'hal';

export const StreamName = {
  EVENTS: 'HAL_EVENTS',
  NOTIFY: 'HAL_NOTIFY',
  AUDIT: 'HAL_AUDIT',
} as const;
export type StreamName = (typeof StreamName)[keyof typeof StreamName];

/** The subjects each stream captures. */
export const streamSubjects: Readonly<Record<StreamName, readonly string[]>> = {
  HAL_EVENTS: [`${PREFIX}.evt.>`],
  HAL_NOTIFY: [`${PREFIX}.notify.>`],
  HAL_AUDIT: [`${PREFIX}.audit.>`],
};

/** NATS KV bucket holding policy state per (session, policy). */
export const POLICY_KV_BUCKET = 'HAL_POLICY';

/** Policy enable/disable overrides, apart from the per-session state so pruning never reaches them. */
export const POLICY_OVERRIDES_KV_BUCKET = 'HAL_POLICY_OVERRIDES';

/** Which node a `start` with an idempotency key went to (24 h), so its retry reaches the same agent. */
export const COMMAND_KEYS_KV_BUCKET = 'HAL_COMMAND_KEYS';

/** NATS KV bucket of the Discord bridge: what it posted (notification → message, session → thread) and its claims. */
export const DISCORD_KV_BUCKET = 'HAL_DISCORD';
/** Short-lived bridge state (kill confirmations, pages of a long answer); entries expire after a day. */
export const DISCORD_UI_KV_BUCKET = 'HAL_DISCORD_UI';

/**
 * NATS KV bucket of leader leases (one key per role, `LeaseName`): created with a TTL, so a lease
 * its holder stops renewing is removed by the server and another instance may take it.
 */
export const LEASES_KV_BUCKET = 'HAL_LEASES';

/** The roles held by one instance at a time; each is a key of LEASES_KV_BUCKET written only by its service. */
export const LeaseName = {
  /** The policy instance that consumes events and acts (the others stand by). */
  POLICY: 'policy',
  /** The cost-poller instance that polls provider billing (only instances with admin keys contend). */
  COST_POLLER: 'cost-poller',
  /** The cost-poller instance that publishes budget events (every instance contends). */
  COST_BUDGETS: 'cost-budgets',
  /** The discord-bridge instance that posts notifications, threads and the daily report. */
  DISCORD_BRIDGE: 'discord-bridge',
} as const;
export type LeaseName = (typeof LeaseName)[keyof typeof LeaseName];

/** Provider billing as the leading cost-poller read it: every cost-poller instance projects it. */
export const COST_BILLING_KV_BUCKET = 'HAL_COST_BILLING';

/**
 * Budget alerts already published (one key per budget, subject, period and kind), claimed with
 * create-if-absent, so a new leading cost-poller never publishes one again. Entries expire after
 * the longest budget period.
 */
export const COST_ALERTS_KV_BUCKET = 'HAL_COST_ALERTS';

/**
 * NATS KV bucket recording which node each session belongs to: the first node that reported it.
 * Written with create-if-absent (compare-and-set), so every gateway instance agrees on the owner.
 */
export const SESSION_OWNERS_KV_BUCKET = 'HAL_SESSION_OWNERS';

/** The key of a session in SESSION_OWNERS_KV_BUCKET: base64url keeps any id one valid KV key. */
export function sessionOwnerKey(session: string): string {
  return Buffer.from(session, 'utf8').toString('base64url');
}

/** Queue groups: every instance of a service joins the same group, so each request is answered once. */
export const QueueGroup = {
  TRACKER: 'hal-tracker',
  COST: 'hal-cost',
  POLICY: 'hal-policy',
  /** Every gateway takes `hal.cmd.*` in this group: one of them decides where each command goes. */
  GATEWAY: 'hal-gateway',
} as const;

export interface EventFilter {
  node?: string | undefined;
  project?: string | undefined;
  /** An exact type, or a filter with `*` / trailing `>` such as `session.*` or `cost.>`. */
  type?: string | undefined;
}

export const subjects = {
  /** `hal.evt.<node>.<project>.<type>` — one agent or system event, into HAL_EVENTS. */
  event(node: string, project: string, type: string): string {
    return bounded(`${PREFIX}.evt.${token(node, 'node')}.${token(project, 'project')}.${checkType(type)}`);
  },
  /** A subscription/consumer filter over events; absent parts match everything. */
  eventFilter(filter: EventFilter = {}): string {
    const type = filter.type ?? '>';
    if (type.length > LIMITS.eventTypeChars) {
      throw new HalError(
        ErrorCode.VALIDATION_FAILED,
        `event type filter "${type.slice(0, 40)}…" is longer than ${LIMITS.eventTypeChars} characters`,
      );
    }
    if (!TYPE_FILTER_PATTERN.test(type)) {
      throw new HalError(ErrorCode.VALIDATION_FAILED, `event type filter "${type}" is not a type or glob`);
    }
    const node = filter.node === undefined ? '*' : token(filter.node, 'node');
    const project = filter.project === undefined ? '*' : token(filter.project, 'project');
    return bounded(`${PREFIX}.evt.${node}.${project}.${type}`);
  },
  /** `hal.hb.<node>` — core heartbeat with host resources. */
  heartbeat(node: string): string {
    return bounded(`${PREFIX}.hb.${token(node, 'node')}`);
  },
  heartbeatAll: `${PREFIX}.hb.*`,
  /** `hal.cmd.<node>` — request/reply command, answered by the gateway that holds the node. */
  command(node: string): string {
    return bounded(`${PREFIX}.cmd.${token(node, 'node')}`);
  },
  /** What every gateway takes in the `hal-gateway` queue group: each command reaches one of them. */
  commandAll: `${PREFIX}.cmd.*`,
  /** `hal.cmd.<node>.<gateway>` — a command passed on to the gateway that last claimed the node. */
  commandAt(node: string, gateway: string): string {
    return bounded(`${PREFIX}.cmd.${token(node, 'node')}.${token(gateway, 'gateway')}`);
  },
  /** Every command passed on to one gateway. */
  commandAtGateway(gateway: string): string {
    return bounded(`${PREFIX}.cmd.*.${token(gateway, 'gateway')}`);
  },
  /** `hal.gw.claim.<node>` — a gateway announces it now holds a node; others drop their hold. */
  nodeClaim(node: string): string {
    return bounded(`${PREFIX}.gw.claim.${token(node, 'node')}`);
  },
  nodeClaimAll: `${PREFIX}.gw.claim.*`,
  /**
   * A gateway that starts asks the others to claim their nodes again, so it knows who holds what.
   * `%sync` is no escaped id (`%` is followed by two hex digits in those), so no node has it.
   */
  nodeClaimSync: `${PREFIX}.gw.claim.%sync`,
  /** `hal.gw.holder.<node>.<gateway>` — request/reply: which agent instance holds a node, asked of the gateway that claimed it. */
  nodeHolder(node: string, gateway: string): string {
    return bounded(`${PREFIX}.gw.holder.${token(node, 'node')}.${token(gateway, 'gateway')}`);
  },
  /** Every holder question asked of one gateway. */
  nodeHolderAtGateway(gateway: string): string {
    return bounded(`${PREFIX}.gw.holder.*.${token(gateway, 'gateway')}`);
  },
  /** `hal.q.tracker.<query>` — read queries answered by the tracker queue group. */
  trackerQuery(query: string): string {
    return bounded(`${PREFIX}.q.tracker.${token(query, 'query')}`);
  },
  /** `hal.q.cost.<query>` — read queries answered by the cost service. */
  costQuery(query: string): string {
    return bounded(`${PREFIX}.q.cost.${token(query, 'query')}`);
  },
  /** `hal.q.policy.<query>` — policy listing and enable/disable, answered by the policy service. */
  policyQuery(query: string): string {
    return bounded(`${PREFIX}.q.policy.${token(query, 'query')}`);
  },
  /** `hal.notify.<channel>.<route>` — a message for people, into HAL_NOTIFY. */
  notify(channel: string, route: string): string {
    return bounded(`${PREFIX}.notify.${token(channel, 'channel')}.${token(route, 'route')}`);
  },
  notifyFilter(channel?: string): string {
    return bounded(`${PREFIX}.notify.${channel === undefined ? '*' : token(channel, 'channel')}.*`);
  },
  /** `hal.audit.<actor-kind>` — every mutating action, into HAL_AUDIT. */
  audit(actorKind: string): string {
    return bounded(`${PREFIX}.audit.${token(actorKind, 'actor kind')}`);
  },
} as const;

export interface ParsedEventSubject {
  node: string;
  project: string;
  type: string;
}

/** The inverse of `subjects.event`: what a consumer needs to route without parsing the payload. */
export function parseEventSubject(subject: string): ParsedEventSubject {
  const parts = subject.split('.');
  if (parts.length < 5 || parts[0] !== PREFIX || parts[1] !== 'evt') {
    throw new HalError(ErrorCode.VALIDATION_FAILED, `"${subject}" is not an event subject`);
  }
  return {
    node: unescapeToken(parts[2]!),
    project: unescapeToken(parts[3]!),
    type: checkType(parts.slice(4).join('.')),
  };
}

/** The node of a `hal.cmd.<node>[.<gateway>]` or `hal.gw.holder.<node>.<gateway>` subject (VALIDATION_FAILED otherwise). */
export function nodeOfSubject(subject: string): string {
  const parts = subject.split('.');
  const at = parts[1] === 'cmd' ? 2 : parts[1] === 'gw' && parts[2] === 'holder' ? 3 : -1;
  const node = at < 0 ? undefined : parts[at];
  if (parts[0] !== PREFIX || node === undefined) {
    throw new HalError(ErrorCode.VALIDATION_FAILED, `"${subject.slice(0, 80)}" names no node`);
  }
  return unescapeToken(node);
}

import { type JetStreamClient, publishEvent } from '@hal/bus';
import { backoffDelay } from '@hal/observability';
import {
  type CommandExecutedData,
  commandExecutedDataSchema,
  type EventRecord,
  EventType,
  nodeClockSkewDataSchema,
  nodeOfflineDataSchema,
  nodeOnlineDataSchema,
  nodeSnapshotDataSchema,
  SCHEMA_VERSION,
  type SessionSnapshot,
} from '@hal/protocol';

export type OfflineReason = 'socket_closed' | 'heartbeat_timeout' | 'replaced' | 'gateway_stopped';

/**
 * Events the gateway itself originates about a node. They carry seq 0 (they are not in any
 * agent's spool, so no ack refers to them) and a fresh uuid, project '' and session null.
 */
function nodeEvent(node: string, type: string, data: Record<string, unknown>, now: Date): EventRecord {
  return {
    version: SCHEMA_VERSION,
    id: crypto.randomUUID(),
    seq: 0,
    node,
    project: '',
    session: null,
    type,
    time: now.toISOString(),
    data,
  };
}

export function nodeOnlineEvent(
  node: string,
  data: {
    agent_version: string;
    projects: Array<{ name: string; directory: string }>;
    gateway: string;
  },
  now: Date,
) {
  return nodeEvent(node, EventType.NODE_ONLINE, nodeOnlineDataSchema.parse(data), now);
}

export function nodeOfflineEvent(node: string, data: { reason: OfflineReason; gateway?: string }, now: Date) {
  return nodeEvent(node, EventType.NODE_OFFLINE, nodeOfflineDataSchema.parse(data), now);
}

/**
 * The trace of one relayed command. `session` is set only together with its `project`: the
 * tracker files an event with a session under that event's project, so a session event with
 * project '' would move the session out of its project. Without the project, the session
 * travels in `data.session` only.
 */
export function commandExecutedEvent(
  node: string,
  where: { project: string; session: string | null },
  data: CommandExecutedData,
  now: Date,
): EventRecord {
  return {
    ...nodeEvent(node, EventType.COMMAND_EXECUTED, commandExecutedDataSchema.parse(data), now),
    project: where.project,
    session: where.project === '' ? null : where.session,
  };
}

/** A second agent instance claimed a live node id and was refused: two hosts share one id. */
export function nodeIdConflictEvent(
  node: string,
  data: {
    holder: {
      gateway: string;
      host: string | null;
      remote_address: string | null;
      instance_id: string | null;
    };
    refused: { host: string | null; remote_address: string | null; instance_id: string };
  },
  now: Date,
) {
  return nodeEvent(node, EventType.NODE_ID_CONFLICT, { ...data, severity: 'warning' }, now);
}

/** A node's clock crossed `alerts.clock_skew_seconds` away from the control plane's. */
export function nodeClockSkewEvent(
  node: string,
  data: { skew_ms: number; threshold_seconds: number; gateway: string },
  now: Date,
) {
  return nodeEvent(
    node,
    EventType.NODE_CLOCK_SKEW,
    nodeClockSkewDataSchema.parse({ ...data, severity: 'warning' }),
    now,
  );
}

/**
 * The alert that a node reported a session another node owns. Published by the control plane
 * (never accepted from an agent: `security.*` is not a host type) with the offending node as
 * `node`, no session (the tracker must not file it under the session it tried to take), and
 * severity critical so the default route sends it to `alerts`.
 */
export function sessionConflictEvent(
  node: string,
  data: {
    session: string;
    owner: string;
    type: string;
    seq: number;
    gateway: string;
    remote_address: string | null;
  },
  now: Date,
): EventRecord {
  return nodeEvent(
    node,
    EventType.SECURITY_SESSION_CONFLICT,
    {
      severity: 'critical',
      session_id: data.session,
      owner: data.owner,
      claimed_by: node,
      reported_type: data.type,
      reported_seq: data.seq,
      gateway: data.gateway,
      remote_address: data.remote_address,
    },
    now,
  );
}

export function nodeSnapshotEvent(node: string, sessions: SessionSnapshot[], now: Date) {
  return nodeEvent(node, EventType.NODE_SNAPSHOT, nodeSnapshotDataSchema.parse({ sessions }), now);
}

/**
 * Publishes a system event, retrying while JetStream is unreachable: a node.offline that is
 * lost would leave the node "online" in every projection until it comes back.
 */
export async function publishSystemEvent(
  js: JetStreamClient,
  event: EventRecord,
  opts: { attempts?: number; backoffMs?: number } = {},
): Promise<void> {
  const attempts = opts.attempts ?? 5;
  const backoff = { initialMs: opts.backoffMs ?? 200, maxMs: 5_000 };
  for (let attempt = 1; ; attempt++) {
    try {
      await publishEvent(js, event);
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt - 1, backoff)));
    }
  }
}

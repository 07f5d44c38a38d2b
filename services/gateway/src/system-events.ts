import { type JetStreamClient, publishEvent } from '@hal/bus';
import {
  type EventRecord,
  EventType,
  nodeOfflineDataSchema,
  nodeOnlineDataSchema,
  nodeSnapshotDataSchema,
  PROTOCOL_VERSION,
  type SessionSnapshot,
} from '@hal/protocol';

export type OfflineReason = 'socket_closed' | 'heartbeat_timeout' | 'replaced' | 'gateway_stopped';

/**
 * Events the gateway itself originates about a node. They carry seq 0 (they are not in any
 * agent's spool, so no ack refers to them) and a fresh uuid, project '' and session null.
 */
function nodeEvent(node: string, type: string, data: Record<string, unknown>, now: Date): EventRecord {
  return {
    version: PROTOCOL_VERSION,
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
  let delay = opts.backoffMs ?? 200;
  for (let attempt = 1; ; attempt++) {
    try {
      await publishEvent(js, event);
      return;
    } catch (err) {
      if (attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}

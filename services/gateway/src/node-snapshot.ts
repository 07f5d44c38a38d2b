import type { SessionOwners } from '@hal/bus';
import type { Clock, HalMetrics, Logger } from '@hal/observability';
import { ErrorCode, type EventRecord, type SessionSnapshot } from '@hal/protocol';
import type { SessionConflict } from './event-ingest.ts';
import { errorFrame } from './frames.ts';
import { nodeSnapshotEvent } from './system-events.ts';

export interface SnapshotDeps {
  node: string;
  owners: SessionOwners;
  metrics: HalMetrics;
  log: Logger;
  clock: Clock;
  /** Counts, logs and alerts a session another node owns. */
  onSessionConflict(conflict: SessionConflict): void;
  send(frame: string): void;
  publish(event: EventRecord): Promise<void>;
}

/**
 * node.snapshot with only the sessions this node owns: a session another node reported first
 * is left out (and refused, counted and alerted), so a snapshot cannot move it either.
 */
export async function publishNodeSnapshot(
  d: SnapshotDeps,
  sessions: SessionSnapshot[],
  requestId: string,
): Promise<void> {
  const owners: string[] = [];
  try {
    // In slices: a snapshot of thousands of new sessions must not fire thousands of KV writes at once.
    for (let i = 0; i < sessions.length; i += 256) {
      const slice = sessions.slice(i, i + 256);
      owners.push(...(await Promise.all(slice.map((s) => d.owners.claim(s.session, d.node)))));
    }
  } catch (err) {
    // Without owners the snapshot cannot be trusted; the next reconnect sends another.
    d.log.error({ err }, 'snapshot not published: session owners unavailable');
    return;
  }
  const own: SessionSnapshot[] = [];
  const refused: number[] = [];
  sessions.forEach((s, i) => {
    if (owners[i] === d.node) own.push(s);
    else {
      refused.push(i);
      d.metrics.agentRefusalsTotal.inc({ code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE });
      d.onSessionConflict({ session: s.session, owner: owners[i]!, type: 'node.snapshot', seq: 0 });
    }
  });
  if (refused.length > 0) {
    d.send(
      errorFrame({
        code: ErrorCode.SESSION_OWNED_BY_OTHER_NODE,
        message: `${refused.length} of ${sessions.length} snapshot sessions belong to another node and were left out`,
        path: `payload.sessions[${refused[0]}].session`,
        requestId,
      }),
    );
  }
  await d.publish(nodeSnapshotEvent(d.node, own, new Date(d.clock.now())));
}

import {
  type EventRecord,
  EventType,
  envResultSchema,
  nodeOfflineDataSchema,
  nodeOnlineDataSchema,
  nodeSnapshotDataSchema,
  SessionState,
} from '@hal/protocol';
import type Database from 'better-sqlite3';
import { parseData } from './session-effects.ts';
import { normaliseTime, type TrackerStore } from './tracker-store.ts';

/** What a node's own event (no session) does: online/offline, its snapshot, environment results. */
export type NodeEffects = (event: EventRecord, time: string, seq: number) => void;

export function createNodeEffects(sqlite: Database.Database, store: TrackerStore): NodeEffects {
  const st = store.statements;

  const upsertEnv = sqlite.prepare(
    `insert into env_results (node, project, status, checked_at, revision, result, stream_seq)
     values (@node, @project, @status, @checkedAt, @revision, @result, @seq)
     on conflict (node, project) do update set status = excluded.status, checked_at = excluded.checked_at,
       revision = excluded.revision, result = excluded.result, stream_seq = excluded.stream_seq`,
  );

  function applyEnvCheck(event: EventRecord, seq: number): void {
    const r = parseData(envResultSchema, event);
    // The row belongs to the node that sent the event: what the data says about node or
    // project is overwritten, so a host cannot file a result under another node.
    const result = { ...r, node: event.node, project: event.project };
    upsertEnv.run({
      node: event.node,
      project: event.project,
      status: result.status,
      checkedAt: normaliseTime(result.checked_at) ?? result.checked_at,
      revision: result.revision,
      result: JSON.stringify(result),
      seq,
    });
  }

  function applyNodeEvent(event: EventRecord, time: string, seq: number): void {
    switch (event.type) {
      case EventType.ENV_CHECK_PASS:
      case EventType.ENV_CHECK_FAIL:
        if (event.project !== '') applyEnvCheck(event, seq);
        return;
      case EventType.NODE_ONLINE: {
        const info = parseData(nodeOnlineDataSchema, event);
        store.markNodeOnline(event.node, time, {
          gateway: info.gateway,
          agentVersion: info.agent_version,
          projects: info.projects,
        });
        return;
      }
      case EventType.NODE_OFFLINE:
        parseData(nodeOfflineDataSchema, event);
        store.markNodeOffline(event.node, time);
        return;
      case EventType.NODE_SNAPSHOT: {
        const snap = parseData(nodeSnapshotDataSchema, event);
        store.markNodeOnline(event.node, time);
        const seen = new Set<string>();
        for (const s of snap.sessions) {
          seen.add(s.session);
          const before = store.head(s.session)?.state;
          store.applySnapshotSession(event.node, time, s);
          if (store.head(s.session)?.state !== before) st.setStateSince.run(time, s.session);
        }
        // The agent reports every session it watches: a live one it no longer has has ended.
        for (const { session } of st.nodeSessionIds.all(event.node)) {
          if (!seen.has(session)) {
            store.setState(session, SessionState.COMPLETED);
            st.setStateSince.run(time, session);
          }
        }
        return;
      }
      default:
        return;
    }
  }

  return applyNodeEvent;
}

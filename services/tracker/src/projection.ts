import {
  commandExecutedDataSchema,
  type EventRecord,
  EventType,
  envResultSchema,
  handOffCompletedDataSchema,
  MESSAGE_ABORTED_ERROR,
  messageCompletedDataSchema,
  messagePartDataSchema,
  nodeOfflineDataSchema,
  nodeOnlineDataSchema,
  nodeSnapshotDataSchema,
  parseEventRecord,
  permissionAskedDataSchema,
  permissionRepliedDataSchema,
  SessionState,
  sessionErrorDataSchema,
  sessionInfoDataSchema,
  sessionRetryDataSchema,
  sessionTaskDataSchema,
} from '@hal/protocol';
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import { createTrackerStore, normaliseTime, type TrackerStore } from './tracker-store.ts';

/** The log keeps what people read: text and tool calls, not step markers or snapshots. */
const LOGGED_PARTS = new Set(['text', 'tool']);
const MAX_TASK_CHARS = 4000;

/** One message read from HAL_EVENTS: its stream sequence and raw payload. */
export interface RawEvent {
  streamSeq: number;
  data: string;
}

export interface BatchResult {
  applied: number;
  /** Already applied before (seq ≤ applied seq, or the same event id at another seq). */
  duplicates: number;
  /** Unparseable payloads or data that does not fit its type's schema. */
  rejected: Array<{ streamSeq: number; reason: string }>;
  appliedSeq: number;
}

export interface Projection {
  store: TrackerStore;
  /** Applies a batch in one transaction, including the new applied sequence. */
  applyBatch(batch: readonly RawEvent[]): BatchResult;
  appliedSeq(): number;
  /** Empties every table (for `--rebuild` or a reset stream): the stream is then replayed from the start. */
  reset(): void;
}

/** Builds the projection of HAL_EVENTS into the tracker tables. Pure apart from the database it writes. */
export function createProjection(sqlite: Database.Database): Projection {
  const store = createTrackerStore(sqlite);
  const st = store.statements;

  function parseData<T extends z.ZodType>(schema: T, event: EventRecord): z.infer<T> {
    const result = schema.safeParse(event.data);
    if (!result.success) {
      throw new DataError(
        `data of ${event.type} does not fit its schema: ${result.error.issues[0]?.message}`,
      );
    }
    return result.data;
  }

  /** Moves a session to `state` unless it is in a state that this kind of event must not leave. */
  function transition(session: string, state: SessionState, sticky: ReadonlySet<string>): void {
    const current = st.getState.get(session);
    if (current === undefined || sticky.has(current)) return;
    st.setState.run(state, session);
  }

  const FINAL = new Set<string>([SessionState.COMPLETED]);
  const STOPPED = new Set<string>([SessionState.COMPLETED, SessionState.KILLED]);
  // opencode ends an errored or aborted prompt with session.idle: the error/kill must stay visible.
  const AFTER_FAILURE = new Set<string>([SessionState.COMPLETED, SessionState.KILLED, SessionState.ERROR]);

  function applySessionEvent(event: EventRecord, session: string, seq: number, time: string): void {
    switch (event.type) {
      case EventType.SESSION_CREATED:
      case EventType.SESSION_UPDATED: {
        const info = parseData(sessionInfoDataSchema, event);
        st.setInfo.run({ session, title: info.title ?? null, directory: info.directory ?? null });
        return;
      }
      case EventType.SESSION_BUSY:
        transition(session, SessionState.RUNNING, FINAL);
        return;
      case EventType.SESSION_IDLE:
        transition(session, SessionState.IDLE, AFTER_FAILURE);
        st.setRetry.run(null, session);
        return;
      case EventType.SESSION_RETRY: {
        const retry = parseData(sessionRetryDataSchema, event);
        transition(session, SessionState.RUNNING, STOPPED);
        st.setRetry.run(JSON.stringify(retry), session);
        return;
      }
      case EventType.SESSION_COMPACTED:
        transition(session, SessionState.COMPACTED, STOPPED);
        st.addCompaction.run(session);
        return;
      case EventType.SESSION_ERROR: {
        const err = parseData(sessionErrorDataSchema, event);
        if (err.kind === MESSAGE_ABORTED_ERROR) {
          transition(session, SessionState.KILLED, FINAL);
          return;
        }
        transition(session, SessionState.ERROR, STOPPED);
        st.addError.run(err.message ? `${err.kind}: ${err.message}` : err.kind, session);
        return;
      }
      case EventType.SESSION_DELETED:
        st.setState.run(SessionState.COMPLETED, session);
        return;
      case EventType.MESSAGE_COMPLETED: {
        const m = parseData(messageCompletedDataSchema, event);
        const before = st.getMessage.get(session, m.message_id);
        st.upsertMessage.run({
          session,
          messageId: m.message_id,
          input: m.tokens.input,
          output: m.tokens.output,
          reasoning: m.tokens.reasoning,
          cacheRead: m.tokens.cache_read,
          cacheWrite: m.tokens.cache_write,
          cost: m.cost_usd,
          model: m.model,
          provider: m.provider,
          seq,
        });
        st.addTotals.run({
          session,
          i: m.tokens.input - (before?.i ?? 0),
          o: m.tokens.output - (before?.o ?? 0),
          r: m.tokens.reasoning - (before?.r ?? 0),
          cr: m.tokens.cache_read - (before?.cr ?? 0),
          cw: m.tokens.cache_write - (before?.cw ?? 0),
          c: m.cost_usd - (before?.c ?? 0),
          model: m.model,
          provider: m.provider,
        });
        // An abort that lands before the model answers leaves no session.error in opencode, only
        // the aborted message: it is a kill all the same.
        if (m.error === MESSAGE_ABORTED_ERROR) transition(session, SessionState.KILLED, FINAL);
        return;
      }
      case EventType.MESSAGE_PART: {
        const p = parseData(messagePartDataSchema, event);
        if (!LOGGED_PARTS.has(p.part_type)) return;
        st.upsertLog.run({
          seq,
          session,
          messageId: p.message_id,
          partId: p.part_id,
          role: p.role,
          kind: p.part_type,
          text: p.text ?? null,
          tool: p.tool ?? null,
          toolStatus: p.tool_status ?? null,
          time,
        });
        if (p.role === 'user' && p.part_type === 'text' && p.text) {
          st.setTaskIfEmpty.run(p.text.slice(0, MAX_TASK_CHARS), session);
        }
        return;
      }
      case EventType.SESSION_TASK: {
        // The session's own CURRENT_TASK.md wins over its first prompt (which only fills a gap).
        const t = parseData(sessionTaskDataSchema, event);
        st.setTask.run(t.task.slice(0, MAX_TASK_CHARS), session);
        return;
      }
      case EventType.PERMISSION_ASKED: {
        const ask = parseData(permissionAskedDataSchema, event);
        const pending = pendingOf(session);
        if (!pending.includes(ask.permission_id)) pending.push(ask.permission_id);
        st.setPending.run(JSON.stringify(pending), session);
        transition(session, SessionState.WAITING_INPUT, STOPPED);
        return;
      }
      case EventType.PERMISSION_REPLIED: {
        const reply = parseData(permissionRepliedDataSchema, event);
        const pending = pendingOf(session).filter((id) => id !== reply.permission_id);
        st.setPending.run(JSON.stringify(pending), session);
        if (pending.length === 0) resumeFromWaiting(session);
        return;
      }
      case EventType.QUESTION_ASKED:
        transition(session, SessionState.WAITING_INPUT, STOPPED);
        return;
      case EventType.QUESTION_REPLIED:
        if (pendingOf(session).length === 0) resumeFromWaiting(session);
        return;
      case EventType.COMMAND_EXECUTED: {
        // A restart hands off to a new session: link it back, so the chain can be walked.
        const cmd = parseData(commandExecutedDataSchema, event);
        if (
          cmd.ok &&
          cmd.command_type === 'restart' &&
          cmd.result_session !== undefined &&
          cmd.session !== null
        ) {
          store.ensureSession(cmd.result_session, event.node, event.project, time);
          st.setPrevious.run(cmd.session, cmd.result_session, cmd.session);
        }
        return;
      }
      case EventType.HANDOFF_COMPLETED: {
        // A graceful hand-off (reported by the agent that ran it) links the new session back.
        // The agent may only link its own sessions: the old one is this event's (the gateway
        // checked it); the new one must be on this node too, or nothing is linked.
        const done = parseData(handOffCompletedDataSchema, event);
        if (done.session === session) return;
        store.ensureSession(done.session, event.node, event.project, time);
        if (st.getSessionNode.get(done.session) !== event.node) return;
        st.setPrevious.run(session, done.session, session);
        return;
      }
      default:
        return;
    }
  }

  function resumeFromWaiting(session: string): void {
    if (st.getState.get(session) === SessionState.WAITING_INPUT) {
      st.setState.run(SessionState.RUNNING, session);
    }
  }

  function pendingOf(session: string): string[] {
    const raw = store.getSession(session)?.pending_permissions ?? '[]';
    try {
      const value: unknown = JSON.parse(raw);
      return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    } catch {
      // A damaged column is rebuilt from the events that follow; the next reply fixes it.
      return [];
    }
  }

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
          const before = st.getState.get(s.session);
          store.applySnapshotSession(event.node, time, s);
          if (st.getState.get(s.session) !== before) st.setStateSince.run(time, s.session);
        }
        // The agent reports every session it watches: a live one it no longer has has ended.
        for (const { session } of st.nodeSessionIds.all(event.node)) {
          if (!seen.has(session)) {
            st.setState.run(SessionState.COMPLETED, session);
            st.setStateSince.run(time, session);
          }
        }
        return;
      }
      default:
        return;
    }
  }

  // Within one batch a session is upserted once; its latest activity is written at the end.
  const seenSessions = new Map<string, string>();

  function applyOne(raw: RawEvent, result: BatchResult): void {
    let event: EventRecord;
    try {
      // The schema's answer, by its fast path for plainly valid records (zod's was most of the time).
      const parsed = parseEventRecord(JSON.parse(raw.data));
      if (!parsed.success) throw parsed.error;
      event = parsed.data;
    } catch (err) {
      result.rejected.push({ streamSeq: raw.streamSeq, reason: reasonOf(err) });
      return;
    }
    const time = normaliseTime(event.time) ?? new Date(0).toISOString();
    // Another node's report about a session: indexed as the stream holds it, but not under that
    // session, and it changes nothing (a session never moves to another node).
    const owner = event.session === null ? undefined : st.getSessionNode.get(event.session);
    const foreign = owner !== undefined && owner !== event.node;
    const inserted = st.insertEvent.run({
      seq: raw.streamSeq,
      id: event.id,
      node: event.node,
      project: event.project,
      session: foreign ? null : event.session,
      type: event.type,
      time,
      record: raw.data,
    });
    if (inserted.changes === 0) {
      result.duplicates++;
      return;
    }
    if (foreign) {
      result.rejected.push({
        streamSeq: raw.streamSeq,
        reason: `session "${event.session}" belongs to node "${owner}"; the report of node "${event.node}" is ignored`,
      });
      return;
    }
    try {
      if (event.session !== null) {
        const seen = seenSessions.get(event.session);
        if (seen === undefined) store.ensureSession(event.session, event.node, event.project, time);
        if (seen === undefined || seen < time) seenSessions.set(event.session, time);
        // Every state change of an event is stamped with that event's time: "waiting for 3 min".
        const before = st.getState.get(event.session);
        applySessionEvent(event, event.session, raw.streamSeq, time);
        if (st.getState.get(event.session) !== before) st.setStateSince.run(time, event.session);
      } else {
        st.ensureNode.run(event.node, time);
        applyNodeEvent(event, time, raw.streamSeq);
      }
      result.applied++;
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      // The event stays indexed (it is a valid record); only its effect on the tables is skipped.
      result.rejected.push({ streamSeq: raw.streamSeq, reason: err.message });
    }
  }

  const applyTx = sqlite.transaction((batch: readonly RawEvent[], result: BatchResult) => {
    seenSessions.clear();
    let applied = store.appliedSeq();
    for (const raw of batch) {
      if (raw.streamSeq <= applied) {
        result.duplicates++;
        continue;
      }
      applyOne(raw, result);
      applied = raw.streamSeq;
    }
    for (const [session, time] of seenSessions) st.touchSession.run(time, session);
    seenSessions.clear();
    // Stored in the same transaction as the rows: a crash after commit but before the acks
    // reach JetStream redelivers messages that are then recognised as applied.
    store.setAppliedSeq(applied);
    result.appliedSeq = applied;
  });

  return {
    store,
    applyBatch(batch) {
      const result: BatchResult = { applied: 0, duplicates: 0, rejected: [], appliedSeq: 0 };
      applyTx(batch, result);
      return result;
    },
    appliedSeq: () => store.appliedSeq(),
    reset: sqlite.transaction(() => {
      for (const table of [
        'events',
        'session_log',
        'session_messages',
        'sessions',
        'nodes',
        'env_results',
        'meta',
      ]) {
        sqlite.prepare(`delete from ${table}`).run();
      }
    }),
  };
}

class DataError extends Error {}

function reasonOf(err: unknown): string {
  if (err instanceof SyntaxError) return `not JSON: ${err.message}`;
  if (err && typeof err === 'object' && 'issues' in err && Array.isArray(err.issues)) {
    const issue = err.issues[0] as { path?: PropertyKey[]; message?: string } | undefined;
    return `not an event record: ${issue?.path?.join('.') ?? ''}: ${issue?.message ?? ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

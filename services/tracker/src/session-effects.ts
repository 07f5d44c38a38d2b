import {
  commandExecutedDataSchema,
  type EventRecord,
  EventType,
  handOffCompletedDataSchema,
  MESSAGE_ABORTED_ERROR,
  messageCompletedDataSchema,
  messagePartDataSchema,
  permissionAskedDataSchema,
  permissionRepliedDataSchema,
  SessionState,
  sessionErrorDataSchema,
  sessionInfoDataSchema,
  sessionRetryDataSchema,
  sessionTaskDataSchema,
} from '@hal/protocol';
import type { z } from 'zod';
import type { TrackerStore } from './tracker-store.ts';

/** The log keeps what people read: text and tool calls, not step markers or snapshots. */
const LOGGED_PARTS = new Set(['text', 'tool']);
const MAX_TASK_CHARS = 4000;

/** An event whose data does not fit its type: indexed, but it changes no table. */
export class DataError extends Error {}

/** The event's data by its type's schema, or a DataError saying what does not fit. */
export function parseData<T extends z.ZodType>(schema: T, event: EventRecord): z.infer<T> {
  const result = schema.safeParse(event.data);
  if (!result.success) {
    throw new DataError(`data of ${event.type} does not fit its schema: ${result.error.issues[0]?.message}`);
  }
  return result.data;
}

/** What a session's event does to its row: state, retry, totals, log, task, pending asks, links. */
export type SessionEffects = (event: EventRecord, session: string, seq: number, time: string) => void;

export function createSessionEffects(store: TrackerStore): SessionEffects {
  const st = store.statements;

  /** Moves a session to `state` unless it is in a state that this kind of event must not leave. */
  function transition(session: string, state: SessionState, sticky: ReadonlySet<string>): void {
    const current = store.head(session)?.state;
    if (current === undefined || sticky.has(current)) return;
    store.setState(session, state);
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
        store.setRetry(session, null);
        return;
      case EventType.SESSION_RETRY: {
        const retry = parseData(sessionRetryDataSchema, event);
        transition(session, SessionState.RUNNING, STOPPED);
        store.setRetry(session, JSON.stringify(retry));
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
        store.setState(session, SessionState.COMPLETED);
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
        if (store.head(done.session)?.node !== event.node) return;
        st.setPrevious.run(session, done.session, session);
        return;
      }
      default:
        return;
    }
  }

  function resumeFromWaiting(session: string): void {
    if (store.head(session)?.state === SessionState.WAITING_INPUT) {
      store.setState(session, SessionState.RUNNING);
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

  return applySessionEvent;
}

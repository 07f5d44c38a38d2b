import {
  eventRecordSchema,
  type LogEntry,
  type NodeView,
  type SessionState,
  type SessionView,
  type StoredEvent,
  sessionStateSchema,
} from '@hal/protocol';
import type { NodeRow, SessionRow } from './tracker-store.ts';

/** A stored row that cannot be turned into its view (damaged JSON, unknown state). */
export class CorruptRowError extends Error {
  constructor(
    readonly table: string,
    readonly key: string,
    reason: string,
  ) {
    super(`${table} row ${key} is unreadable: ${reason}`);
    this.name = 'CorruptRowError';
  }
}

function parseJson(table: string, key: string, column: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new CorruptRowError(table, key, `column ${column} is not JSON`);
  }
}

export function toNodeView(row: NodeRow, sessions: number): NodeView {
  const projects = parseJson('nodes', row.node, 'projects', row.projects);
  if (!Array.isArray(projects)) throw new CorruptRowError('nodes', row.node, 'projects is not a list');
  const stored = row.resources === null ? null : parseJson('nodes', row.node, 'resources', row.resources);
  // The skew travels with each heartbeat's figures; the view lifts it out of them.
  const { clock_skew_ms: skew, ...resources } =
    typeof stored === 'object' && stored !== null ? (stored as { clock_skew_ms?: unknown }) : {};
  return {
    node: row.node,
    status: row.status === 'online' ? 'online' : 'offline',
    gateway: row.gateway,
    agent_version: row.agent_version,
    projects: projects as NodeView['projects'],
    last_heartbeat_at: row.last_heartbeat_at,
    online_since: row.online_since,
    resources: stored === null ? null : (resources as NodeView['resources']),
    sessions,
    clock_skew_ms: typeof skew === 'number' ? skew : null,
  };
}

/** `next` is the session restarted from this one, if any (looked up by the caller). */
export function toSessionView(row: SessionRow, next: string | null = null): SessionView {
  const state = sessionStateSchema.safeParse(row.state);
  if (!state.success) throw new CorruptRowError('sessions', row.session, `unknown state "${row.state}"`);
  const pending = parseJson('sessions', row.session, 'pending_permissions', row.pending_permissions);
  if (!Array.isArray(pending))
    throw new CorruptRowError('sessions', row.session, 'pending_permissions is not a list');
  return {
    session: row.session,
    node: row.node,
    project: row.project,
    state: state.data as SessionState,
    title: row.title,
    model: row.model,
    provider: row.provider,
    current_task: row.current_task,
    tokens: {
      input: row.tokens_input,
      output: row.tokens_output,
      reasoning: row.tokens_reasoning,
      cache_read: row.tokens_cache_read,
      cache_write: row.tokens_cache_write,
    },
    cost_usd: row.cost_usd,
    compactions: row.compactions,
    errors: row.errors,
    last_error: row.last_error,
    pending_permissions: pending.map(String),
    started_at: row.started_at,
    last_activity_at: row.last_activity_at === '' ? null : row.last_activity_at,
    state_since: row.state_since ?? row.started_at,
    previous_session: row.previous_session,
    next_session: next,
  };
}

export interface LogRow {
  stream_seq: number;
  time: string;
  message_id: string;
  part_id: string;
  role: string;
  kind: string;
  text: string | null;
  tool: string | null;
  tool_status: string | null;
}

export function toLogEntry(row: LogRow): LogEntry {
  if (row.role !== 'user' && row.role !== 'assistant') {
    throw new CorruptRowError('session_log', String(row.stream_seq), `unknown role "${row.role}"`);
  }
  return { ...row, role: row.role };
}

export function toStoredEvent(streamSeq: number, record: string): StoredEvent {
  const parsed = eventRecordSchema.safeParse(parseJson('events', String(streamSeq), 'record', record));
  if (!parsed.success) throw new CorruptRowError('events', String(streamSeq), 'record is not an event');
  return { ...parsed.data, stream_seq: streamSeq };
}

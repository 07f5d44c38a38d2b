import { EventType, type SessionSnapshot, SessionState, type TokenUsage } from '@hal/protocol';

/** What the agent knows of one opencode session, kept from the events it maps. */
export interface SessionEntry {
  session: string;
  project: string;
  state: SessionState;
  title?: string;
  directory?: string;
  tokens?: TokenUsage;
  cost_usd?: number;
  model?: string;
  updated_at?: string;
  pending_permissions: Set<string>;
}

export interface SessionRegistry {
  /** Updates the entry of the event's session (a HAL event after mapping). */
  apply(ev: {
    project: string;
    session: string | null;
    type: string;
    data: Record<string, unknown>;
    time: string;
  }): void;
  get(session: string): SessionEntry | undefined;
  all(): SessionEntry[];
  snapshot(): SessionSnapshot[];
  count(): number;
}

/**
 * The agent's view of every session's state, fed by the same events it spools, so the snapshot sent
 * after each reconnect and the `status` command agree with what the gateway has seen.
 */
export function createSessionRegistry(): SessionRegistry {
  const sessions = new Map<string, SessionEntry>();

  function entry(project: string, session: string): SessionEntry {
    let e = sessions.get(session);
    if (e === undefined) {
      e = { session, project, state: SessionState.IDLE, pending_permissions: new Set() };
      sessions.set(session, e);
    }
    return e;
  }

  return {
    apply(ev) {
      if (ev.session === null) return;
      if (ev.type === EventType.SESSION_DELETED) {
        sessions.delete(ev.session);
        return;
      }
      const e = entry(ev.project, ev.session);
      e.updated_at = ev.time;
      const d = ev.data;
      switch (ev.type) {
        case EventType.SESSION_CREATED:
        case EventType.SESSION_UPDATED:
          if (typeof d.title === 'string') e.title = d.title;
          if (typeof d.directory === 'string') e.directory = d.directory;
          break;
        case EventType.SESSION_BUSY:
        case EventType.SESSION_RETRY:
          e.state = e.pending_permissions.size > 0 ? SessionState.WAITING_INPUT : SessionState.RUNNING;
          break;
        case EventType.SESSION_IDLE:
          e.state = SessionState.IDLE;
          break;
        case EventType.SESSION_COMPACTED:
          e.state = SessionState.COMPACTED;
          break;
        case EventType.SESSION_ERROR:
          e.state = SessionState.ERROR;
          break;
        case EventType.PERMISSION_ASKED:
          if (typeof d.permission_id === 'string') e.pending_permissions.add(d.permission_id);
          e.state = SessionState.WAITING_INPUT;
          break;
        case EventType.PERMISSION_REPLIED:
          if (typeof d.permission_id === 'string') e.pending_permissions.delete(d.permission_id);
          if (e.pending_permissions.size === 0 && e.state === SessionState.WAITING_INPUT)
            e.state = SessionState.RUNNING;
          break;
        case EventType.MESSAGE_COMPLETED: {
          const t = d.tokens as TokenUsage | undefined;
          if (t !== undefined) {
            const prev = e.tokens ?? { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 };
            e.tokens = {
              input: prev.input + t.input,
              output: prev.output + t.output,
              reasoning: prev.reasoning + t.reasoning,
              cache_read: prev.cache_read + t.cache_read,
              cache_write: prev.cache_write + t.cache_write,
            };
          }
          if (typeof d.cost_usd === 'number') e.cost_usd = (e.cost_usd ?? 0) + d.cost_usd;
          if (typeof d.model === 'string') e.model = `${String(d.provider)}/${d.model}`;
          break;
        }
        default:
          break;
      }
    },
    get: (session) => sessions.get(session),
    all: () => [...sessions.values()],
    snapshot: () =>
      [...sessions.values()].map((e) => {
        const s: SessionSnapshot = { session: e.session, project: e.project, state: e.state };
        if (e.title !== undefined) s.title = e.title;
        if (e.directory !== undefined) s.directory = e.directory;
        if (e.tokens !== undefined) s.tokens = e.tokens;
        if (e.cost_usd !== undefined) s.cost_usd = e.cost_usd;
        if (e.model !== undefined) s.model = e.model;
        if (e.updated_at !== undefined) s.updated_at = e.updated_at;
        if (e.pending_permissions.size > 0) s.pending_permissions = [...e.pending_permissions];
        return s;
      }),
    count: () => sessions.size,
  };
}

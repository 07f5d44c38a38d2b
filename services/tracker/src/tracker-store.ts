import type { SessionSnapshot } from '@hal/protocol';
import type Database from 'better-sqlite3';

export interface NodeOnlineInfo {
  gateway?: string | null | undefined;
  agentVersion?: string | null | undefined;
  projects?: ReadonlyArray<{ name: string; directory: string }> | undefined;
}

export interface HeartbeatInfo extends NodeOnlineInfo {
  resources: unknown;
}

export interface SessionRow {
  session: string;
  node: string;
  project: string;
  state: string;
  prior_state: string | null;
  title: string | null;
  directory: string | null;
  model: string | null;
  provider: string | null;
  current_task: string | null;
  tokens_input: number;
  tokens_output: number;
  tokens_reasoning: number;
  tokens_cache_read: number;
  tokens_cache_write: number;
  cost_usd: number;
  compactions: number;
  errors: number;
  last_error: string | null;
  pending_permissions: string;
  retry: string | null;
  started_at: string | null;
  state_since: string | null;
  previous_session: string | null;
  last_activity_at: string;
}

export interface NodeRow {
  node: string;
  status: string;
  gateway: string | null;
  agent_version: string | null;
  projects: string;
  last_heartbeat_at: string | null;
  online_since: string | null;
  resources: string | null;
}

/** What the projection reads of a session on nearly every event. */
export interface SessionHead {
  node: string;
  state: string;
  /** `prior_state` is set (only ever while `unreachable`). */
  prior: boolean;
  /** `retry` is set. */
  retry: boolean;
}

/**
 * Row-level writes shared by the event projection and node liveness, as prepared statements
 * (the projection runs them thousands of times a second). Callers own the transaction.
 */
export function createTrackerStore(sqlite: Database.Database) {
  const s = {
    getMeta: sqlite.prepare<[string], { value: string }>('select value from meta where key = ?'),
    setMeta: sqlite.prepare(
      'insert into meta (key, value) values (?, ?) on conflict(key) do update set value = excluded.value',
    ),
    insertEvent: sqlite.prepare(
      `insert into events (stream_seq, id, node, project, session, type, time, record)
       values (@seq, @id, @node, @project, @session, @type, @time, @record) on conflict do nothing`,
    ),
    ensureNode: sqlite.prepare(
      "insert into nodes (node, status, online_since) values (?, 'online', ?) on conflict do nothing",
    ),
    getNode: sqlite.prepare<[string], NodeRow>('select * from nodes where node = ?'),
    nodeOnline: sqlite.prepare(
      `update nodes set status = 'online',
         online_since = case when status = 'online' and online_since is not null then online_since else @time end,
         gateway = coalesce(@gateway, gateway), agent_version = coalesce(@agentVersion, agent_version),
         projects = coalesce(@projects, projects)
       where node = @node`,
    ),
    nodeHeartbeat: sqlite.prepare(
      'update nodes set last_heartbeat_at = @time, resources = @resources where node = @node',
    ),
    nodeOffline: sqlite.prepare("update nodes set status = 'offline', online_since = null where node = ?"),
    sessionsUnreachable: sqlite.prepare(
      `update sessions set prior_state = state, prior_state_since = state_since, state = 'unreachable',
         state_since = @time
       where node = @node and state not in ('completed', 'killed', 'unreachable')`,
    ),
    sessionsReachable: sqlite.prepare(
      // Back in the state it had: since when it had it, not since the node came back (a session
      // idle for an hour before a supervisor restart is still idle for an hour after it).
      `update sessions set state = coalesce(prior_state, 'idle'),
         state_since = case when prior_state is null then @time else prior_state_since end,
         prior_state = null, prior_state_since = null
       where node = @node and state = 'unreachable'`,
    ),
    // A session stays on the node that first reported it: another node's report never moves it
    // (the gateway refuses such reports; this is the second line of defence).
    ensureSession: sqlite.prepare(
      `insert into sessions (session, node, project, state, started_at, last_activity_at)
       values (@session, @node, @project, 'starting', @time, @time)
       on conflict(session) do update set
         last_activity_at = max(last_activity_at, excluded.last_activity_at),
         project = excluded.project
       where sessions.node = excluded.node`,
    ),
    getSession: sqlite.prepare<[string], SessionRow>('select * from sessions where session = ?'),
    getHead: sqlite.prepare<[string], { node: string; state: string; prior: 0 | 1; retry: 0 | 1 }>(
      `select node, state, prior_state is not null as prior, retry is not null as retry
       from sessions where session = ?`,
    ),
    touchSession: sqlite.prepare(
      'update sessions set last_activity_at = max(last_activity_at, ?) where session = ?',
    ),
    getMessage: sqlite.prepare<
      [string, string],
      { i: number; o: number; r: number; cr: number; cw: number; c: number }
    >(
      `select tokens_input as i, tokens_output as o, tokens_reasoning as r, tokens_cache_read as cr,
         tokens_cache_write as cw, cost_usd as c from session_messages where session = ? and message_id = ?`,
    ),
    setState: sqlite.prepare('update sessions set state = ?, prior_state = null where session = ?'),
    setStateSince: sqlite.prepare('update sessions set state_since = ? where session = ?'),
    setPrevious: sqlite.prepare(
      'update sessions set previous_session = ? where session = ? and session != ?',
    ),
    setInfo: sqlite.prepare(
      `update sessions set title = coalesce(@title, title), directory = coalesce(@directory, directory)
       where session = @session`,
    ),
    setRetry: sqlite.prepare('update sessions set retry = ? where session = ?'),
    addCompaction: sqlite.prepare('update sessions set compactions = compactions + 1 where session = ?'),
    addError: sqlite.prepare('update sessions set errors = errors + 1, last_error = ? where session = ?'),
    setPending: sqlite.prepare('update sessions set pending_permissions = ? where session = ?'),
    setTask: sqlite.prepare('update sessions set current_task = ? where session = ?'),
    setTaskIfEmpty: sqlite.prepare(
      'update sessions set current_task = ? where session = ? and current_task is null',
    ),
    upsertMessage: sqlite.prepare(
      `insert into session_messages (session, message_id, tokens_input, tokens_output, tokens_reasoning,
         tokens_cache_read, tokens_cache_write, cost_usd, model, provider, stream_seq)
       values (@session, @messageId, @input, @output, @reasoning, @cacheRead, @cacheWrite, @cost, @model,
         @provider, @seq)
       on conflict(session, message_id) do update set tokens_input = excluded.tokens_input,
         tokens_output = excluded.tokens_output, tokens_reasoning = excluded.tokens_reasoning,
         tokens_cache_read = excluded.tokens_cache_read, tokens_cache_write = excluded.tokens_cache_write,
         cost_usd = excluded.cost_usd, model = excluded.model, provider = excluded.provider,
         stream_seq = excluded.stream_seq`,
    ),
    // Totals move by the difference to the message's previous figures: a repeated
    // message.completed replaces its own contribution instead of adding to the sum.
    addTotals: sqlite.prepare(
      `update sessions set tokens_input = tokens_input + @i, tokens_output = tokens_output + @o,
         tokens_reasoning = tokens_reasoning + @r, tokens_cache_read = tokens_cache_read + @cr,
         tokens_cache_write = tokens_cache_write + @cw, cost_usd = cost_usd + @c, model = @model,
         provider = @provider
       where session = @session`,
    ),
    upsertLog: sqlite.prepare(
      `insert into session_log (stream_seq, session, message_id, part_id, role, kind, text, tool, tool_status, time)
       values (@seq, @session, @messageId, @partId, @role, @kind, @text, @tool, @toolStatus, @time)
       on conflict(session, message_id, part_id) do update set text = coalesce(excluded.text, text),
         tool = coalesce(excluded.tool, tool), tool_status = coalesce(excluded.tool_status, tool_status)`,
    ),
    snapshotSession: sqlite.prepare(
      `insert into sessions (session, node, project, state, title, directory, model, pending_permissions,
         started_at, last_activity_at)
       values (@session, @node, @project, @state, @title, @directory, @model, coalesce(@pending, '[]'), @time, @time)
       on conflict(session) do update set project = excluded.project,
         -- opencode reports a killed or failed session as plain idle: like a live session.idle,
         -- a snapshot does not undo killed/error (also when it comes back from unreachable).
         state = case
           when excluded.state = 'idle' and state in ('killed', 'error') then state
           when excluded.state = 'idle' and state = 'unreachable' and prior_state in ('killed', 'error')
             then prior_state
           else excluded.state end,
         prior_state = null, prior_state_since = null, title = coalesce(excluded.title, title),
         -- The model of the last finished message wins over the agent's view of the session.
         directory = coalesce(excluded.directory, directory), model = coalesce(model, excluded.model),
         pending_permissions = coalesce(@pending, pending_permissions),
         last_activity_at = max(last_activity_at, excluded.last_activity_at)
       where sessions.node = excluded.node`,
    ),
    nodeSessionIds: sqlite.prepare<[string], { session: string }>(
      "select session from sessions where node = ? and state not in ('completed', 'killed')",
    ),
    staleNodes: sqlite.prepare<[string, string], { node: string }>(
      // The last sign of life is the later of the last heartbeat and coming online: a node
      // that reconnects is alive now, however old its last heartbeat before it went away.
      `select node from nodes where status = 'online'
         and max(coalesce(last_heartbeat_at, ''), coalesce(online_since, ''), ?) < ?`,
    ),
    countStates: sqlite.prepare<[], { state: string; n: number }>(
      'select state, count(*) as n from sessions group by state',
    ),
    countOnline: sqlite.prepare<[], { n: number }>("select count(*) as n from nodes where status = 'online'"),
  };

  // Inside `withSessionHeads` (one projection batch): each session's head as last read or
  // written, null = no such row. Every statement here that can change a session's node, state,
  // prior_state or retry keeps it right or drops it; a batch that fails drops it all, so a
  // rolled-back write is never remembered.
  let heads: Map<string, SessionHead | null> | undefined;

  function head(session: string): SessionHead | undefined {
    const cached = heads?.get(session);
    if (cached !== undefined) return cached ?? undefined;
    const row = s.getHead.get(session);
    const value = row === undefined ? undefined : { ...row, prior: row.prior === 1, retry: row.retry === 1 };
    heads?.set(session, value ?? null);
    return value;
  }

  function markNodeOnline(node: string, time: string, info: NodeOnlineInfo = {}): void {
    heads?.clear();
    s.ensureNode.run(node, time);
    s.nodeOnline.run({
      node,
      time,
      gateway: info.gateway ?? null,
      agentVersion: info.agentVersion ?? null,
      projects: info.projects === undefined ? null : JSON.stringify(info.projects),
    });
    s.sessionsReachable.run({ node, time });
  }

  return {
    statements: s,
    appliedSeq(): number {
      return Number(s.getMeta.get('applied_seq')?.value ?? 0);
    },
    setAppliedSeq(seq: number): void {
      s.setMeta.run('applied_seq', String(seq));
    },
    markNodeOnline,
    /** A node is gone: its live sessions become `unreachable`, never `killed`. */
    markNodeOffline(node: string, time: string): void {
      heads?.clear();
      s.ensureNode.run(node, time);
      s.nodeOffline.run(node);
      s.sessionsUnreachable.run({ node, time });
    },
    recordHeartbeat(node: string, time: string, info: HeartbeatInfo): void {
      const before = s.getNode.get(node);
      if (before?.status !== 'online') markNodeOnline(node, time, info);
      else if (info.projects !== undefined || info.agentVersion !== undefined || info.gateway !== undefined) {
        markNodeOnline(node, time, info);
      }
      s.nodeHeartbeat.run({ node, time, resources: JSON.stringify(info.resources) });
    },
    /** Nodes online whose last sign of life (or `notBefore`) is older than `cutoff`. */
    staleNodes(cutoff: string, notBefore: string): string[] {
      return s.staleNodes.all(notBefore, cutoff).map((r) => r.node);
    },
    ensureSession(session: string, node: string, project: string, time: string): void {
      s.ensureNode.run(node, time);
      s.ensureSession.run({ session, node, project, time });
      // An existing row keeps its node and state; a new one is read again when asked for.
      if (heads?.get(session) === null) heads.delete(session);
    },
    getSession(session: string): SessionRow | undefined {
      return s.getSession.get(session);
    },
    /** The session's node, state and flags; undefined when there is no such session. */
    head,
    /**
     * Runs `fn` (one projection batch, inside its transaction) with session heads remembered
     * between events, so a session's node and state are read once a batch, not on every event.
     */
    withSessionHeads<T>(fn: () => T): T {
      heads = new Map();
      try {
        return fn();
      } finally {
        heads = undefined;
      }
    },
    /** Sets the state and drops `prior_state`; nothing to write when the head says it is so already. */
    setState(session: string, state: string): void {
      const h = heads?.get(session);
      if (h != null && h.state === state && !h.prior) return;
      s.setState.run(state, session);
      if (h != null) {
        h.state = state;
        h.prior = false;
      }
    },
    /** Sets or clears the retry; nothing to write when it is clear and stays clear. */
    setRetry(session: string, retry: string | null): void {
      const h = heads?.get(session);
      if (h != null && retry === null && !h.retry) return;
      s.setRetry.run(retry, session);
      if (h != null) h.retry = retry !== null;
    },
    applySnapshotSession(node: string, time: string, snap: SessionSnapshot): void {
      heads?.delete(snap.session);
      s.snapshotSession.run({
        session: snap.session,
        node,
        project: snap.project,
        state: snap.state,
        title: snap.title ?? null,
        directory: snap.directory ?? null,
        model: snap.model ?? null,
        pending: snap.pending_permissions === undefined ? null : JSON.stringify(snap.pending_permissions),
        time: normaliseTime(snap.updated_at) ?? time,
      });
    },
    countsByState(): Map<string, number> {
      return new Map(s.countStates.all().map((r) => [r.state, r.n]));
    },
    nodesOnline(): number {
      return s.countOnline.get()?.n ?? 0;
    },
  };
}

export type TrackerStore = ReturnType<typeof createTrackerStore>;

/** ISO time in UTC, so string comparison is time comparison; undefined for absent or invalid input. */
export function normaliseTime(value: string | undefined | null): string | undefined {
  if (value === undefined || value === null) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

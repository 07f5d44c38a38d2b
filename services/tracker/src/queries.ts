import { type NatsConnection, type Server, serve } from '@hal/bus';
import type { Logger } from '@hal/observability';
import {
  type EnvResult,
  type EnvStatusView,
  ErrorCode,
  envResultSchema,
  HalError,
  QueueGroup,
  SessionState,
  type SessionView,
  subjects,
  type TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
import type Database from 'better-sqlite3';
import type { z } from 'zod';
import type { NodeRow, SessionRow } from './tracker-store.ts';
import {
  CorruptRowError,
  type LogRow,
  toLogEntry,
  toNodeView,
  toSessionView,
  toStoredEvent,
} from './views.ts';

type Req<Q extends TrackerQuery> = z.infer<(typeof trackerQuerySchemas)[Q]['request']>;
type Res<Q extends TrackerQuery> = z.infer<(typeof trackerQuerySchemas)[Q]['response']>;

export interface TrackerQueriesDeps {
  nc: NatsConnection;
  sqlite: Database.Database;
  log: Logger;
  /** Called for every stored row that could not be read and was left out of an answer. */
  onCorruptRow: (err: CorruptRowError) => void;
}

/** Turns a NATS-style type filter (`session.*`, `cost.>`) into a regular expression. */
function typeMatcher(filter: string): RegExp {
  const parts = filter.split('.').map((p) => (p === '*' ? '[^.]+' : p === '>' ? '.+' : p));
  // Type words are [a-z0-9_] only (checked by subjects.eventFilter), so no escaping is needed.
  return new RegExp(`^${parts.join('\\.')}$`);
}

function encodeCursor(row: Pick<SessionRow, 'last_activity_at' | 'session'>): string {
  return Buffer.from(JSON.stringify([row.last_activity_at, row.session])).toString('base64url');
}

function decodeCursor(cursor: string): [string, string] {
  try {
    const value: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'string')) {
      return value as [string, string];
    }
  } catch {
    // falls through to the error below
  }
  throw new HalError(ErrorCode.VALIDATION_FAILED, 'invalid cursor: use next_cursor of the previous page', {
    details: { issues: [{ path: 'cursor', message: 'not a cursor returned by sessions_list' }] },
  });
}

function conditions() {
  const where: string[] = [];
  const params: unknown[] = [];
  return {
    where,
    params,
    add(condition: string, value: unknown): void {
      where.push(condition);
      params.push(value);
    },
  };
}

/** The read side: every query of `trackerQuerySchemas`, answered from SQLite. */
export function createTrackerQueries(deps: TrackerQueriesDeps) {
  const { sqlite } = deps;
  const log = deps.log.child({ component: 'tracker-queries' });
  const matchers = new Map<string, RegExp>();
  sqlite.function('hal_type_match', { deterministic: true }, (pattern: unknown, type: unknown) => {
    const key = String(pattern);
    let re = matchers.get(key);
    if (re === undefined) {
      re = typeMatcher(key);
      if (matchers.size > 1000) matchers.clear();
      matchers.set(key, re);
    }
    return re.test(String(type)) ? 1 : 0;
  });

  const nodeSessions = sqlite.prepare<[], { node: string; n: number }>(
    'select node, count(*) as n from sessions group by node',
  );
  const nodeSessionCount = sqlite.prepare<[string], { n: number }>(
    'select count(*) as n from sessions where node = ?',
  );
  const getNode = sqlite.prepare<[string], NodeRow>('select * from nodes where node = ?');
  const getSession = sqlite.prepare<[string], SessionRow>('select * from sessions where session = ?');
  const nextOf = sqlite
    .prepare<[string], string>(
      'select session from sessions where previous_session = ? order by started_at limit 1',
    )
    .pluck();
  const countStates = sqlite.prepare<[], { state: string; n: number }>(
    'select state, count(*) as n from sessions group by state',
  );
  const sessionView = (row: SessionRow): SessionView => toSessionView(row, nextOf.get(row.session) ?? null);
  const logsOf = sqlite.prepare<[string, number, number], LogRow>(
    `select stream_seq, time, message_id, part_id, role, kind, text, tool, tool_status from session_log
     where session = ? and stream_seq > ? order by stream_seq limit ?`,
  );

  /** Rows that cannot be read are left out and counted, never fatal for the whole answer. */
  function readable<R, V>(rows: readonly R[], view: (row: R) => V): V[] {
    const out: V[] = [];
    for (const row of rows) {
      try {
        out.push(view(row));
      } catch (err) {
        if (!(err instanceof CorruptRowError)) throw err;
        deps.onCorruptRow(err);
      }
    }
    return out;
  }

  /** The latest env results, filtered; a row that no longer parses is skipped and counted. */
  function envRows(filter: {
    node?: string | undefined;
    project?: string | undefined;
    status?: string | undefined;
  }) {
    const { where, params, add } = conditions();
    if (filter.node !== undefined) add('node = ?', filter.node);
    if (filter.project !== undefined) add('project = ?', filter.project);
    if (filter.status !== undefined) add('status = ?', filter.status);
    const rows = sqlite
      .prepare<unknown[], { node: string; project: string; result: string }>(
        `select node, project, result from env_results ${where.length === 0 ? '' : `where ${where.join(' and ')}`}
         order by node, project`,
      )
      .all(...params);
    return readable(rows, (row): EnvResult => {
      const parsed = envResultSchema.safeParse(safeJson(row.result));
      if (!parsed.success)
        throw new CorruptRowError(
          'env_results',
          `${row.node}/${row.project}`,
          'result does not fit its schema',
        );
      return parsed.data;
    });
  }

  const handlers: { [Q in TrackerQuery]: (req: Req<Q>) => Res<Q> } = {
    env_status(req) {
      const results: EnvStatusView[] = envRows(req).map((r) => ({
        ...r,
        pending_approval: r.items
          .filter((i) => i.status !== 'pass' && i.fix?.kind === 'risky')
          .map((i) => i.id),
      }));
      return { results };
    },
    env_drift(req) {
      return {
        drift: envRows(req).flatMap((r) =>
          r.drift.map((d) => ({ ...d, node: r.node, project: r.project, checked_at: r.checked_at })),
        ),
      };
    },
    nodes_list(req) {
      const counts = new Map(nodeSessions.all().map((r) => [r.node, r.n]));
      const rows = sqlite
        .prepare<unknown[], NodeRow>(
          req.status === undefined
            ? 'select * from nodes order by node'
            : 'select * from nodes where status = ? order by node',
        )
        .all(...(req.status === undefined ? [] : [req.status]));
      return { nodes: readable(rows, (r) => toNodeView(r, counts.get(r.node) ?? 0)) };
    },
    nodes_get(req) {
      const row = getNode.get(req.node);
      const [view] =
        row === undefined ? [] : readable([row], (r) => toNodeView(r, nodeSessionCount.get(r.node)?.n ?? 0));
      if (view === undefined) throw new HalError(ErrorCode.NODE_NOT_FOUND, `node "${req.node}" is not known`);
      return view;
    },
    sessions_list(req) {
      const { where, params, add } = conditions();
      if (req.node !== undefined) add('node = ?', req.node);
      if (req.project !== undefined) add('project = ?', req.project);
      if (req.state !== undefined) add('state = ?', req.state);
      if (req.q !== undefined && req.q !== '') {
        // A scan, not an index: 10,000 rows take a few ms, and the filter is typed by a person.
        const like = `%${req.q.toLowerCase().replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
        where.push(
          "(lower(coalesce(title, '')) like ? escape '\\' or lower(session) like ? escape '\\' or lower(coalesce(current_task, '')) like ? escape '\\')",
        );
        params.push(like, like, like);
      }
      const filter = where.length === 0 ? '' : `where ${where.join(' and ')}`;
      const total = sqlite
        .prepare<unknown[], { n: number }>(`select count(*) as n from sessions ${filter}`)
        .get(...params);
      const pageWhere = [...where];
      const pageParams = [...params];
      if (req.cursor !== undefined) {
        const [activity, session] = decodeCursor(req.cursor);
        pageWhere.push('(last_activity_at < ? or (last_activity_at = ? and session > ?))');
        pageParams.push(activity, activity, session);
      }
      const rows = sqlite
        .prepare<unknown[], SessionRow>(
          `select * from sessions ${pageWhere.length === 0 ? '' : `where ${pageWhere.join(' and ')}`}
           order by last_activity_at desc, session asc limit ?`,
        )
        .all(...pageParams, req.limit + 1);
      const more = rows.length > req.limit;
      const page = more ? rows.slice(0, req.limit) : rows;
      const last = page.at(-1);
      const sessions: SessionView[] = readable(page, sessionView);
      return { sessions, next_cursor: more && last ? encodeCursor(last) : null, total: total?.n ?? 0 };
    },
    sessions_get(req) {
      const row = getSession.get(req.session);
      const [view] = row === undefined ? [] : readable([row], sessionView);
      if (view === undefined)
        throw new HalError(ErrorCode.SESSION_NOT_FOUND, `session "${req.session}" is not known`);
      return view;
    },
    sessions_logs(req) {
      if (getSession.get(req.session) === undefined) {
        throw new HalError(ErrorCode.SESSION_NOT_FOUND, `session "${req.session}" is not known`);
      }
      return { entries: readable(logsOf.all(req.session, req.after_seq ?? 0, req.limit), toLogEntry) };
    },
    sessions_summary() {
      const by_state = Object.fromEntries(Object.values(SessionState).map((st) => [st, 0])) as Record<
        SessionState,
        number
      >;
      let total = 0;
      for (const { state, n } of countStates.all()) {
        total += n;
        if (state in by_state) by_state[state as SessionState] = n;
      }
      return { total, by_state };
    },
    events_list(req) {
      const { where, params, add } = conditions();
      if (req.node !== undefined) add('node = ?', req.node);
      if (req.project !== undefined) add('project = ?', req.project);
      if (req.session !== undefined) add('session = ?', req.session);
      if (req.type !== undefined) {
        subjects.eventFilter({ type: req.type }); // throws VALIDATION_FAILED for a malformed filter
        if (/[*>]/.test(req.type)) add('hal_type_match(?, type)', req.type);
        else add('type = ?', req.type);
      }
      if (req.since !== undefined) add('time >= ?', new Date(req.since).toISOString());
      if (req.after_seq !== undefined) add('stream_seq > ?', req.after_seq);
      const rows = sqlite
        .prepare<unknown[], { stream_seq: number; record: string }>(
          `select stream_seq, record from events ${where.length === 0 ? '' : `where ${where.join(' and ')}`}
           order by stream_seq limit ?`,
        )
        .all(...params, req.limit);
      const events = readable(rows, (r) => toStoredEvent(r.stream_seq, r.record));
      const last = rows.at(-1);
      return { events, next_after_seq: rows.length === req.limit && last ? last.stream_seq : null };
    },
  };

  let servers: Server[] = [];
  return {
    handlers,
    async start() {
      servers = (Object.keys(trackerQuerySchemas) as TrackerQuery[]).map((name) =>
        serve(deps.nc, {
          subject: subjects.trackerQuery(name),
          queue: QueueGroup.TRACKER,
          schema: trackerQuerySchemas[name].request,
          log,
          handler: async (body) => (handlers[name] as (req: unknown) => unknown)(body),
        }),
      );
    },
    /** Stops taking queries and waits for the ones in flight. */
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
      servers = [];
    },
  };
}

export type TrackerQueries = ReturnType<typeof createTrackerQueries>;

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

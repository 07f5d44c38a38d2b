// Stand-ins for the tracker and for agents in the HTTP API tests: real NATS responders with
// canned data that passes the protocol's response schemas.
import { connectBus, ensureStreams, type NatsConnection, type Server, serve } from '@hal/bus';
import { createLogger, createRegistry, Readiness } from '@hal/observability';
import {
  type CommandRequest,
  commandRequestSchema,
  ErrorCode,
  HalError,
  type NodeView,
  SessionState,
  type SessionView,
  subjects,
  TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
import { type NatsServer, startNats } from '@hal/testkit';
import { createHttpApi, type HttpApi, type HttpApiConfig } from '../src/http-server.ts';

export const TOKENS = {
  admin: 'admin-token-0123456789abcdef',
  operator: 'operator-token-0123456789ab',
  viewer: 'viewer-token-0123456789abcd',
} as const;

export const MAX_BODY = 4096;

export function apiConfig(overrides: Partial<HttpApiConfig['server']> = {}): HttpApiConfig {
  return {
    server: {
      http_host: '127.0.0.1',
      http_port: 0,
      auth_token: TOKENS.admin,
      max_body_bytes: MAX_BODY,
      metrics_public: false,
      ...overrides,
    },
    security: {
      api_tokens: [
        { name: 'otto', token: TOKENS.operator, role: 'operator' },
        { name: 'vera', token: TOKENS.viewer, role: 'viewer' },
      ],
      audit: { enabled: true },
    },
  };
}

export const log = createLogger({ service: 'gateway-test', level: process.env.TEST_LOG ?? 'silent' });

export function node(name: string, status: 'online' | 'offline', projects: string[], sessions = 0): NodeView {
  return {
    node: name,
    status,
    gateway: status === 'online' ? 'gw-1' : null,
    agent_version: '0.1.0',
    projects: projects.map((p) => ({ name: p, directory: `/srv/${p}` })),
    last_heartbeat_at: '2026-11-25T10:00:00.000Z',
    online_since: status === 'online' ? '2026-11-25T09:00:00.000Z' : null,
    resources: null,
    sessions,
    clock_skew_ms: null,
  };
}

export function session(id: string, nodeName: string, project: string): SessionView {
  return {
    session: id,
    node: nodeName,
    project,
    state: 'idle',
    title: `title of ${id}`,
    model: 'scripted-model',
    provider: 'scripted',
    current_task: 'write tests',
    tokens: { input: 10, output: 20, reasoning: 0, cache_read: 0, cache_write: 0 },
    cost_usd: 0.01,
    compactions: 0,
    errors: 0,
    last_error: null,
    pending_permissions: [],
    started_at: '2026-11-25T09:00:00.000Z',
    last_activity_at: '2026-11-25T10:00:00.000Z',
    state_since: '2026-11-25T10:00:00.000Z',
    previous_session: null,
    next_session: null,
  };
}

/** alpha lives on n1 (online, answers commands) and n3 (online, never answers); beta only on n2 (offline). */
export const NODES = [
  node('n1', 'online', ['alpha'], 1),
  node('n2', 'offline', ['beta']),
  node('n3', 'online', ['alpha'], 5),
];
export const SESSIONS = [
  session('s1', 'n1', 'alpha'),
  session('s2', 'n2', 'beta'),
  session('s3', 'n3', 'alpha'),
];

export function serveTracker(nc: NatsConnection, sessions: SessionView[] = SESSIONS): Server[] {
  const on = <Q extends TrackerQuery>(q: Q, handler: (body: never) => Promise<unknown>): Server =>
    serve(nc, {
      subject: subjects.trackerQuery(q),
      schema: trackerQuerySchemas[q].request,
      log,
      handler: handler as (body: unknown) => Promise<unknown>,
    });
  const findSession = (id: string): SessionView => {
    const found = sessions.find((s) => s.session === id);
    if (!found) throw new HalError(ErrorCode.SESSION_NOT_FOUND, `session "${id}" not found`);
    return found;
  };
  return [
    on(TrackerQuery.NODES_LIST, async () => ({ nodes: NODES })),
    on(TrackerQuery.NODES_GET, async (b: { node: string }) => {
      const found = NODES.find((n) => n.node === b.node);
      if (!found) throw new HalError(ErrorCode.NODE_NOT_FOUND, `node "${b.node}" not found`);
      return found;
    }),
    on(
      TrackerQuery.SESSIONS_LIST,
      async (b: { limit: number; cursor?: string; node?: string; project?: string }) => {
        const start = b.cursor === undefined ? 0 : Number(b.cursor);
        const matching = sessions.filter(
          (s) =>
            (b.node === undefined || s.node === b.node) &&
            (b.project === undefined || s.project === b.project),
        );
        const page = matching.slice(start, start + b.limit);
        const next = start + b.limit < matching.length ? String(start + b.limit) : null;
        return { sessions: page, next_cursor: next, total: matching.length };
      },
    ),
    on(TrackerQuery.SESSIONS_GET, async (b: { session: string }) => findSession(b.session)),
    on(TrackerQuery.SESSIONS_LOGS, async (b: { session: string }) => {
      findSession(b.session);
      return {
        entries: [
          {
            stream_seq: 7,
            time: '2026-11-25T10:00:00.000Z',
            message_id: 'm1',
            part_id: 'p1',
            role: 'assistant',
            kind: 'text',
            text: 'hello from the assistant',
            tool: null,
            tool_status: null,
          },
        ],
      };
    }),
    on(TrackerQuery.EVENTS_LIST, async () => ({ events: [], next_after_seq: null })),
    on(TrackerQuery.SESSIONS_SUMMARY, async () => {
      const by_state = Object.fromEntries(Object.values(SessionState).map((st) => [st, 0])) as Record<
        SessionState,
        number
      >;
      for (const s of sessions) by_state[s.state]++;
      return { total: sessions.length, by_state };
    }),
  ];
}

/** An agent's gateway for `nodeName`: records each command and answers with `{accepted, type}`. */
export function serveAgent(
  nc: NatsConnection,
  nodeName: string,
  received: CommandRequest[],
  answer: (req: CommandRequest) => unknown = (req) => ({ accepted: true, type: req.command.type }),
): Server {
  return serve(nc, {
    subject: subjects.command(nodeName),
    schema: commandRequestSchema,
    log,
    handler: async (req) => {
      received.push(req);
      return answer(req);
    },
  });
}

export interface ApiFixture {
  nats: NatsServer;
  nc: NatsConnection;
  api: HttpApi;
  received: CommandRequest[];
  servers: Server[];
  stop(): Promise<void>;
}

export async function startApiFixture(
  opts: {
    tracker?: boolean;
    config?: HttpApiConfig;
    sseHeartbeatMs?: number;
    dashboardDir?: string;
    /** The sessions the stand-in tracker knows (default SESSIONS). */
    sessions?: SessionView[];
    /** What n1's agent answers (default `{accepted, type}`). */
    agentAnswer?: (req: CommandRequest) => unknown;
  } = {},
): Promise<ApiFixture> {
  const nats = await startNats();
  const nc = await connectBus({ url: nats.url, name: 'api-test', log });
  await ensureStreams(nc);
  const received: CommandRequest[] = [];
  const servers = [
    ...(opts.tracker === false ? [] : serveTracker(nc, opts.sessions)),
    serveAgent(nc, 'n1', received, opts.agentAnswer),
  ];
  // n3 holds the node but never answers: every command to it times out.
  const silent = nc.subscribe(subjects.command('n3'));
  const api = createHttpApi({
    config: opts.config ?? apiConfig(),
    nc,
    log,
    registry: createRegistry(),
    readiness: new Readiness(),
    trackerTimeoutMs: 2_000,
    ...(opts.sseHeartbeatMs === undefined ? {} : { sseHeartbeatMs: opts.sseHeartbeatMs }),
    ...(opts.dashboardDir === undefined ? {} : { dashboardDir: opts.dashboardDir }),
  });
  return {
    nats,
    nc,
    api,
    received,
    servers,
    async stop() {
      await api.stop();
      silent.unsubscribe();
      await Promise.all(servers.map((s) => s.stop()));
      await nc.close();
      await nats.stop();
    },
  };
}

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

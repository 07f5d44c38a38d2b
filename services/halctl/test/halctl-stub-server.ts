// A small HTTP server that speaks the API's envelope, so halctl is tested over real HTTP
// without starting the gateway (a service never imports another, tests included).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RunResult } from './halctl-run.ts';

export const VIEWER = 'viewer-token-0123456789';
export const OPERATOR = 'operator-token-0123456789';

export interface StubRequest {
  method: string;
  url: string;
  body: unknown;
  headers: IncomingMessage['headers'];
}

/** An SSE stream the stub opened: its request, and a promise kept when the client goes. */
export interface OpenedStream {
  request: StubRequest;
  closed: Promise<void>;
}

/** A canned answer for the next request to a path, whatever the route would say. */
export interface CannedAnswer {
  status?: number;
  contentType?: string;
  /** Sent as is when a string, else as JSON. */
  body: unknown;
}

export interface Stub {
  url: string;
  requests: StubRequest[];
  /** Kept when the next SSE stream opens (ask before starting halctl, so none is missed). */
  nextStream(): Promise<OpenedStream>;
  /** The next request to `path` gets this answer instead of the route's. */
  answerOnce(path: string, answer: CannedAnswer): void;
  /** Pushes an SSE event to every open stream. */
  push(id: number, type: string, data: unknown): void;
  /** Writes raw text to every open stream (malformed events, oversized ones). */
  pushRaw(text: string): void;
  /** Ends every open SSE stream. */
  endStreams(): void;
  close(): Promise<void>;
}

const session = (id: string, title: string) => ({
  session: id,
  node: 'n1',
  project: 'alpha',
  state: 'idle',
  title,
  model: 'm',
  provider: 'p',
  current_task: null,
  tokens: { input: 1200, output: 340, reasoning: 0, cache_read: 0, cache_write: 0 },
  cost_usd: 0.0123,
  compactions: 0,
  errors: 0,
  last_error: null,
  pending_permissions: [],
  started_at: '2026-11-25T09:00:00.000Z',
  last_activity_at: '2026-11-25T10:00:00.000Z',
  state_since: '2026-11-25T10:00:00.000Z',
  previous_session: null,
  next_session: null,
});

const node = (name: string, skew: number | null | undefined) => ({
  node: name,
  status: 'online',
  gateway: 'gw-1',
  agent_version: '0.1.0',
  projects: [{ name: 'alpha', directory: '/srv/alpha' }],
  last_heartbeat_at: '2026-11-25T10:00:00.000Z',
  online_since: '2026-11-25T09:00:00.000Z',
  resources: null,
  sessions: 1,
  // undefined: an older API that does not know the field.
  ...(skew === undefined ? {} : { clock_skew_ms: skew }),
});

export const NODES = [
  node('n-ahead', 600_000),
  node('n-behind', -1_234),
  node('n-new', null),
  node('n-old', undefined),
];

export const SESSIONS = [
  session('s1', 'fix the flaky test in the payment module and make sure the retries are bounded'),
  session('s2', 'short'),
];

function send(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

const error = (res: ServerResponse, status: number, code: string, message: string) =>
  send(res, status, { error: { code, message } });

export async function startStub(): Promise<Stub> {
  const requests: StubRequest[] = [];
  const streams = new Set<ServerResponse>();
  const streamWaiters: Array<(opened: OpenedStream) => void> = [];
  const canned = new Map<string, CannedAnswer>();
  const server: Server = createServer(async (req, res) => {
    let text = '';
    for await (const chunk of req) text += chunk;
    const body = text === '' ? undefined : JSON.parse(text);
    const url = new URL(req.url ?? '/', 'http://stub');
    requests.push({
      method: req.method ?? 'GET',
      url: `${url.pathname}${url.search}`,
      body,
      headers: req.headers,
    });
    const token = req.headers.authorization?.replace(/^Bearer /, '');
    if (token !== VIEWER && token !== OPERATOR) {
      return error(
        res,
        401,
        'UNAUTHORIZED',
        token === undefined ? 'missing bearer token' : 'invalid bearer token',
      );
    }
    const path = url.pathname;
    const answer = canned.get(path);
    if (answer !== undefined) {
      canned.delete(path);
      res.writeHead(answer.status ?? 200, { 'content-type': answer.contentType ?? 'application/json' });
      res.end(typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      return;
    }
    if (req.method === 'POST' && token === VIEWER) {
      return error(res, 403, 'FORBIDDEN', `POST ${path} needs the operator role`);
    }
    if (path === '/api/v1/nodes') return send(res, 200, { data: { nodes: NODES }, meta: {} });
    if (path === '/api/v1/sessions' && req.method === 'GET') {
      return send(res, 200, { data: SESSIONS, meta: { next_cursor: 'c2', total: 3 } });
    }
    const m = /^\/api\/v1\/sessions\/([^/]+)(?:\/(\w+))?$/.exec(path);
    if (m) {
      const found = SESSIONS.find((s) => s.session === decodeURIComponent(m[1] ?? ''));
      if (!found) return error(res, 404, 'SESSION_NOT_FOUND', `session "${m[1]}" not found`);
      if (m[2] === undefined) return send(res, 200, { data: found, meta: {} });
      if (m[2] === 'kill' && found.session === 's2')
        return error(res, 503, 'NODE_OFFLINE', 'node n1 is offline');
      return send(res, 200, { data: { accepted: true }, meta: { node: 'n1' } });
    }
    if (path === '/api/v1/events') {
      return send(res, 200, {
        data: [{ ...event(1, 'session.idle'), stream_seq: 1 }],
        meta: { next_after_seq: null },
      });
    }
    if (path === '/api/v1/events/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(': connected\n\n');
      streams.add(res);
      const closed = new Promise<void>((resolve) =>
        res.on('close', () => {
          streams.delete(res);
          resolve();
        }),
      );
      const request = requests.at(-1) as StubRequest;
      for (const waiter of streamWaiters.splice(0)) waiter({ request, closed });
      return;
    }
    return error(res, 404, 'NOT_FOUND', `no route ${req.method} ${path}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    nextStream: () => new Promise((resolve) => streamWaiters.push(resolve)),
    answerOnce(path, answer) {
      canned.set(path, answer);
    },
    push(id, type, data) {
      for (const s of streams) s.write(`id: ${id}\nevent: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    pushRaw(text) {
      for (const s of streams) s.write(text);
    },
    endStreams() {
      for (const s of streams) s.end();
      streams.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export function event(seq: number, type: string) {
  return {
    version: 1,
    id: '6f1c0e8e-6a43-4a55-9a8e-2b0d3c6f9e11',
    seq,
    node: 'n1',
    project: 'alpha',
    session: 's1',
    type,
    time: '2026-11-25T10:00:00.000Z',
    data: {},
  };
}

/** The stream `run` opened; fails at once if halctl ends without opening one (no hanging test). */
export async function streamOpenedBy(
  opened: Promise<OpenedStream>,
  run: Promise<RunResult>,
): Promise<OpenedStream> {
  return Promise.race([
    opened,
    run.then((r) => {
      throw new Error(`halctl ended (exit ${r.code}) before opening a stream: ${r.stderr}`);
    }),
  ]);
}

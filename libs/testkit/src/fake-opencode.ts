import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

// A hand-written stand-in for `opencode serve`. Shapes follow what the real 1.18.33 sent (see
// OPENCODE-NOTES.md); behaviour tests use the real opencode via startOpencode(), and a slow or cut
// opencode is the real one behind startCuttingProxy(). The fake stays where a test needs no
// opencode behaviour but its API surface, and a real one (~800 MB, seconds to start, a heavy-phase
// file) would only add cost: counting the agent's calls per command (agent command-calls), the
// environment, dependency and quick-start e2e tests whose agents only need an opencode to watch,
// the README configs run, the dashboard and Discord benches that emit events by hand — and for
// faults the real one cannot produce on demand (failNext: a 5xx; dropSse).

export interface FakeOcEvent {
  id?: string;
  type: string;
  properties: Record<string, unknown>;
}

export interface FakeOcTokens {
  input: number;
  output: number;
  reasoning: number;
  cache: { read: number; write: number };
}

export interface FakeOcSession {
  id: string;
  slug: string;
  projectID: string;
  directory: string;
  path: string;
  title: string;
  version: string;
  cost: number;
  tokens: FakeOcTokens;
  time: { created: number; updated: number };
}

export interface FakeOcMessage {
  info: Record<string, unknown> & { id: string; role: 'user' | 'assistant' };
  parts: Array<Record<string, unknown>>;
}

export interface FakeOcPermission {
  id: string;
  sessionID: string;
  permission: string;
  patterns: string[];
  metadata: Record<string, unknown>;
  always: string[];
}

export interface StartFakeOpencodeOptions {
  port?: number;
  /** Directory used when a request has no `?directory=`. Default process.cwd(). */
  defaultDirectory?: string;
  /** Answer each prompt with an assistant message at once (default true). */
  autoReply?: boolean;
  /** Tokens of each automatic assistant reply. Default input 100, output 20. */
  usage?: { input: number; output: number };
}

export interface FakeOpencode {
  url: string;
  port: number;
  sessions: Map<string, FakeOcSession>;
  messages: Map<string, FakeOcMessage[]>;
  /** Every request: method, path, directory and parsed body. */
  requests: Array<{ method: string; path: string; directory: string; body: unknown }>;
  /** Closes every open SSE stream (clients see the connection end). */
  dropSse(): void;
  /** The next `n` requests (any route, SSE included) answer `status` (default 500). */
  failNext(n: number, status?: number): void;
  /** Pushes an event to `/event?directory=` subscribers of that directory and to `/global/event`. */
  emit(directory: string, event: FakeOcEvent): void;
  /** Creates a pending permission for a session and emits `permission.asked`. */
  askPermission(sessionID: string, permission?: string): FakeOcPermission;
  /** Number of open SSE streams. */
  sseClients(): number;
  stop(): Promise<void>;
}

const VERSION = '1.18.33';
const id = (prefix: string): string =>
  `${prefix}_${Date.now().toString(16)}${randomBytes(7).toString('hex')}`;
const zeroTokens = (): FakeOcTokens => ({ input: 0, output: 0, reasoning: 0, cache: { read: 0, write: 0 } });

interface SseClient {
  res: ServerResponse;
  directory: string | null;
}

export async function startFakeOpencode(opts: StartFakeOpencodeOptions = {}): Promise<FakeOpencode> {
  const defaultDirectory = opts.defaultDirectory ?? process.cwd();
  const autoReply = opts.autoReply ?? true;
  const usage = opts.usage ?? { input: 100, output: 20 };
  const sessions = new Map<string, FakeOcSession>();
  const messages = new Map<string, FakeOcMessage[]>();
  const status = new Map<
    string,
    { type: 'busy' } | { type: 'retry'; attempt: number; message: string; next: number }
  >();
  const permissions = new Map<string, FakeOcPermission & { directory: string }>();
  const requests: FakeOpencode['requests'] = [];
  const clients = new Set<SseClient>();
  let failures: { left: number; status: number } = { left: 0, status: 500 };

  function emit(directory: string, event: FakeOcEvent): void {
    const payload = { id: event.id ?? id('evt'), type: event.type, properties: event.properties };
    for (const c of clients) {
      if (c.directory === null) {
        c.res.write(`data: ${JSON.stringify({ directory, project: 'global', payload })}\n\n`);
      } else if (c.directory === directory) {
        c.res.write(`data: ${JSON.stringify(payload)}\n\n`);
      }
    }
  }

  const send = (res: ServerResponse, code: number, body?: unknown): void => {
    if (body === undefined) {
      res.writeHead(code).end();
      return;
    }
    res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  };
  const notFound = (res: ServerResponse, sessionID: string): void =>
    send(res, 404, { name: 'NotFoundError', data: { message: `Session not found: ${sessionID}` } });
  const badRequest = (res: ServerResponse, message: string): void =>
    send(res, 400, { name: 'BadRequest', data: { message, kind: 'Payload' } });

  function setStatus(s: FakeOcSession, type: 'busy' | 'idle'): void {
    if (type === 'idle') status.delete(s.id);
    else status.set(s.id, { type });
    emit(s.directory, { type: 'session.status', properties: { sessionID: s.id, status: { type } } });
    if (type === 'idle') emit(s.directory, { type: 'session.idle', properties: { sessionID: s.id } });
  }

  function prompt(s: FakeOcSession, text: string): void {
    const list = messages.get(s.id) ?? [];
    messages.set(s.id, list);
    const now = Date.now();
    const user: FakeOcMessage = {
      info: { id: id('msg'), role: 'user', sessionID: s.id, time: { created: now }, agent: 'build' },
      parts: [{ id: id('prt'), type: 'text', text, sessionID: s.id }],
    };
    list.push(user);
    emit(s.directory, { type: 'message.updated', properties: { sessionID: s.id, info: user.info } });
    setStatus(s, 'busy');
    if (!autoReply) return;
    setImmediate(() => {
      const tokens = {
        total: usage.input + usage.output,
        ...zeroTokens(),
        input: usage.input,
        output: usage.output,
      };
      const info = {
        id: id('msg'),
        parentID: user.info.id,
        role: 'assistant' as const,
        mode: 'build',
        agent: 'build',
        path: { cwd: s.directory, root: s.directory },
        cost: 0,
        tokens,
        modelID: 'fake-model',
        providerID: 'fake',
        time: { created: Date.now(), completed: Date.now() },
        sessionID: s.id,
        finish: 'stop',
      };
      list.push({
        info,
        parts: [{ id: id('prt'), type: 'text', text: 'OK.', messageID: info.id, sessionID: s.id }],
      });
      s.tokens.input += usage.input;
      s.tokens.output += usage.output;
      emit(s.directory, { type: 'message.updated', properties: { sessionID: s.id, info } });
      setStatus(s, 'idle');
    });
  }

  async function readJson(req: IncomingMessage): Promise<unknown> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    return text ? JSON.parse(text) : undefined;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const directory = url.searchParams.get('directory') ?? defaultDirectory;
    let body: unknown;
    try {
      body = await readJson(req);
    } catch {
      badRequest(res, 'invalid JSON');
      return;
    }
    requests.push({ method, path, directory, body });
    if (failures.left > 0) {
      failures.left -= 1;
      send(res, failures.status, { name: 'UnknownError', data: { message: 'injected failure' } });
      return;
    }

    if (method === 'GET' && (path === '/event' || path === '/global/event')) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const client: SseClient = { res, directory: path === '/event' ? directory : null };
      clients.add(client);
      res.on('close', () => clients.delete(client));
      const connected = { id: id('evt'), type: 'server.connected', properties: {} };
      res.write(`data: ${JSON.stringify(path === '/event' ? connected : { payload: connected })}\n\n`);
      return;
    }
    if (method === 'GET' && path === '/global/health')
      return send(res, 200, { healthy: true, version: VERSION });
    const inDir = [...sessions.values()].filter((s) => s.directory === directory);
    if (path === '/session' && method === 'GET') return send(res, 200, inDir);
    if (path === '/session' && method === 'POST') {
      const now = Date.now();
      const title = (body as { title?: unknown } | undefined)?.title;
      const s: FakeOcSession = {
        id: id('ses'),
        slug: 'fake-session',
        projectID: 'global',
        directory,
        path: '',
        title: typeof title === 'string' ? title : `New session - ${new Date(now).toISOString()}`,
        version: VERSION,
        cost: 0,
        tokens: zeroTokens(),
        time: { created: now, updated: now },
      };
      sessions.set(s.id, s);
      emit(directory, { type: 'session.created', properties: { sessionID: s.id, info: s } });
      return send(res, 200, s);
    }
    if (path === '/session/status' && method === 'GET') {
      return send(
        res,
        200,
        Object.fromEntries(inDir.filter((s) => status.has(s.id)).map((s) => [s.id, status.get(s.id)])),
      );
    }
    if (path === '/permission' && method === 'GET') {
      return send(
        res,
        200,
        [...permissions.values()]
          .filter((p) => p.directory === directory)
          .map(({ directory: _d, ...p }) => p),
      );
    }
    const perm = /^\/permission\/([^/]+)\/reply$/.exec(path);
    if (perm && method === 'POST') {
      const requestID = decodeURIComponent(perm[1] ?? '');
      const p = permissions.get(requestID);
      const reply = (body as { reply?: unknown } | undefined)?.reply;
      if (reply !== 'once' && reply !== 'always' && reply !== 'reject') {
        return badRequest(res, 'Expected "once" | "always" | "reject"\n  at ["reply"]');
      }
      if (!p) {
        return send(res, 404, {
          _tag: 'PermissionNotFoundError',
          requestID,
          message: `Permission request not found: ${requestID}`,
        });
      }
      permissions.delete(requestID);
      emit(p.directory, {
        type: 'permission.replied',
        properties: { sessionID: p.sessionID, requestID, reply },
      });
      return send(res, 200, true);
    }
    const m = /^\/session\/([^/]+)(\/[a-z_]+)?$/.exec(path);
    if (m) {
      const sessionID = decodeURIComponent(m[1] ?? '');
      const action = m[2] ?? '';
      const s = sessions.get(sessionID);
      if (action === '/abort' && method === 'POST') {
        if (s && status.has(s.id)) {
          emit(s.directory, {
            type: 'session.error',
            properties: { sessionID, error: { name: 'MessageAbortedError', data: { message: 'Aborted' } } },
          });
          setStatus(s, 'idle');
        }
        return send(res, 200, true);
      }
      if (!s) return notFound(res, sessionID);
      if (action === '' && method === 'GET') return send(res, 200, s);
      if (action === '' && method === 'DELETE') {
        sessions.delete(sessionID);
        status.delete(sessionID);
        emit(s.directory, { type: 'session.deleted', properties: { sessionID, info: s } });
        return send(res, 200, true);
      }
      if (action === '/message' && method === 'GET') return send(res, 200, messages.get(sessionID) ?? []);
      if (action === '/prompt_async' && method === 'POST') {
        const parts = (body as { parts?: unknown } | undefined)?.parts;
        if (!Array.isArray(parts)) return badRequest(res, 'Missing key\n  at ["parts"]');
        prompt(s, parts.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join(''));
        return send(res, 204);
      }
      if (action === '/summarize' && method === 'POST') {
        const b = body as { providerID?: unknown; modelID?: unknown } | undefined;
        if (typeof b?.providerID !== 'string' || typeof b.modelID !== 'string') {
          return badRequest(res, 'Missing key\n  at ["providerID"]');
        }
        emit(s.directory, { type: 'session.compacted', properties: { sessionID } });
        setStatus(s, 'idle');
        return send(res, 200, true);
      }
    }
    send(res, 404, { name: 'NotFoundError', data: { message: `no route ${method} ${path}` } });
  }

  const server = createServer((req, res) => {
    route(req, res).catch((err: unknown) => {
      if (!res.headersSent) send(res, 500, { name: 'UnknownError', data: { message: String(err) } });
    });
  });
  server.listen(opts.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    sessions,
    messages,
    requests,
    dropSse() {
      for (const c of clients) c.res.destroy();
      clients.clear();
    },
    failNext(n, code = 500) {
      failures = { left: n, status: code };
    },
    emit,
    askPermission(sessionID, permission = 'bash') {
      const s = sessions.get(sessionID);
      if (!s) throw new Error(`fake opencode: no session ${sessionID}`);
      const p: FakeOcPermission = {
        id: id('per'),
        sessionID,
        permission,
        patterns: ['echo hi'],
        metadata: { command: 'echo hi' },
        always: ['echo *'],
      };
      permissions.set(p.id, { ...p, directory: s.directory });
      emit(s.directory, { type: 'permission.asked', properties: { ...p } });
      return p;
    },
    sseClients: () => clients.size,
    stop() {
      return new Promise((resolve) => {
        for (const c of clients) c.res.destroy();
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

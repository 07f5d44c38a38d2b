import { ErrorCode, HalError, issuesOf } from '@hal/protocol';
import { z } from 'zod';
import {
  type OcMessage,
  type OcPermission,
  type OcSession,
  type OcStatus,
  ocMessageSchema,
  ocPermissionSchema,
  ocSessionSchema,
  ocStatusMapSchema,
} from './opencode-schemas.ts';

export interface OpencodeClientOptions {
  /** Base URL like `http://127.0.0.1:4096`. */
  url: string;
  /** `OPENCODE_SERVER_PASSWORD` of the server, sent as HTTP basic auth (user `opencode`). */
  password?: string;
  /** Per-request deadline; a request that takes longer counts as opencode unreachable. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export type PermissionReply = 'once' | 'always' | 'reject';

export interface OpencodeClient {
  readonly url: string;
  /** Headers for raw requests (the SSE stream): the auth header when a password is set. */
  headers(): Record<string, string>;
  /** Never throws; `timeoutMs` overrides the per-request deadline (heartbeats want a short one). */
  health(timeoutMs?: number): Promise<boolean>;
  listSessions(directory: string): Promise<OcSession[]>;
  getSession(directory: string, id: string): Promise<OcSession>;
  createSession(directory: string, body: { title?: string }): Promise<OcSession>;
  sessionStatus(directory: string): Promise<Record<string, OcStatus>>;
  promptAsync(directory: string, id: string, text: string): Promise<void>;
  abort(directory: string, id: string): Promise<boolean>;
  messages(directory: string, id: string, limit?: number): Promise<OcMessage[]>;
  listPermissions(directory: string): Promise<OcPermission[]>;
  replyPermission(
    directory: string,
    sessionId: string,
    permissionId: string,
    reply: PermissionReply,
  ): Promise<void>;
}

interface CallOptions {
  method?: string;
  body?: unknown;
  /** Set when the path names a session: a 404 then means SESSION_NOT_FOUND. */
  session?: string;
  /** Set when the path names a permission: a 404 then means PERMISSION_NOT_FOUND. */
  permission?: string;
  timeoutMs?: number;
}

/**
 * Typed HTTP client of one `opencode serve`. Every call is scoped to a project with `?directory=`;
 * every answer is validated; failures are HalErrors: OPENCODE_UNREACHABLE (no connection, timeout),
 * SESSION_NOT_FOUND / PERMISSION_NOT_FOUND (404 on that id), OPENCODE_ERROR (anything else).
 */
export function createOpencodeClient(opts: OpencodeClientOptions): OpencodeClient {
  const base = opts.url.replace(/\/+$/, '');
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const auth: Record<string, string> =
    opts.password === undefined
      ? {}
      : { authorization: `Basic ${Buffer.from(`opencode:${opts.password}`).toString('base64')}` };

  async function call<T extends z.ZodType>(
    schema: T,
    path: string,
    directory: string | undefined,
    o: CallOptions = {},
  ): Promise<z.infer<T>> {
    const url = new URL(base + path);
    if (directory !== undefined) url.searchParams.set('directory', directory);
    const method = o.method ?? 'GET';
    const limitMs = o.timeoutMs ?? timeoutMs;
    let res: Response;
    try {
      res = await doFetch(url, {
        method,
        headers: { ...auth, ...(o.body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: o.body === undefined ? undefined : JSON.stringify(o.body),
        signal: AbortSignal.timeout(limitMs),
      });
    } catch (err) {
      const timedOut = err instanceof Error && err.name === 'TimeoutError';
      throw new HalError(
        ErrorCode.OPENCODE_UNREACHABLE,
        timedOut
          ? `opencode at ${base} did not answer ${method} ${path} within ${limitMs} ms`
          : `opencode at ${base} is unreachable (${method} ${path})`,
        { cause: err },
      );
    }
    const text = await res.text().catch(() => '');
    if (res.status === 404 && o.session !== undefined) {
      throw new HalError(ErrorCode.SESSION_NOT_FOUND, `session "${o.session}" not found in opencode`, {
        details: { session: o.session },
      });
    }
    if (res.status === 404 && o.permission !== undefined) {
      throw new HalError(ErrorCode.PERMISSION_NOT_FOUND, `permission "${o.permission}" is not pending`, {
        details: { permission_id: o.permission },
      });
    }
    if (!res.ok) {
      throw new HalError(ErrorCode.OPENCODE_ERROR, `opencode answered ${res.status} to ${method} ${path}`, {
        details: { status: res.status, body: text.slice(0, 500) },
      });
    }
    let json: unknown;
    try {
      json = text === '' ? undefined : JSON.parse(text);
    } catch (err) {
      throw new HalError(ErrorCode.OPENCODE_ERROR, `opencode answered non-JSON to ${method} ${path}`, {
        cause: err,
      });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) {
      const issues = issuesOf(parsed.error);
      throw new HalError(
        ErrorCode.OPENCODE_ERROR,
        `opencode answered an unexpected shape to ${method} ${path}: ${issues[0]?.path}: ${issues[0]?.message}`,
        { details: { issues } },
      );
    }
    return parsed.data;
  }

  const anything = z.unknown();
  const sessionPath = (id: string) => `/session/${encodeURIComponent(id)}`;

  return {
    url: base,
    headers: () => ({ ...auth }),
    async health(limitMs) {
      try {
        await call(anything, '/global/health', undefined, { timeoutMs: limitMs });
        return true;
      } catch {
        // Any failure means "not healthy" here; callers only want the boolean for heartbeats.
        return false;
      }
    },
    listSessions: (directory) => call(z.array(ocSessionSchema), '/session', directory),
    getSession: (directory, id) => call(ocSessionSchema, sessionPath(id), directory, { session: id }),
    createSession: (directory, body) =>
      call(ocSessionSchema, '/session', directory, { method: 'POST', body }),
    sessionStatus: (directory) => call(ocStatusMapSchema, '/session/status', directory),
    async promptAsync(directory, id, text) {
      await call(anything, `${sessionPath(id)}/prompt_async`, directory, {
        method: 'POST',
        body: { parts: [{ type: 'text', text }] },
        session: id,
      });
    },
    async abort(directory, id) {
      const r = await call(anything, `${sessionPath(id)}/abort`, directory, { method: 'POST', session: id });
      return r === true;
    },
    messages(directory, id, limit) {
      const path = `${sessionPath(id)}/message${limit === undefined ? '' : `?limit=${limit}`}`;
      return call(z.array(ocMessageSchema), path, directory, { session: id });
    },
    listPermissions: (directory) => call(z.array(ocPermissionSchema), '/permission', directory),
    async replyPermission(directory, _sessionId, permissionId, reply) {
      await call(anything, `/permission/${encodeURIComponent(permissionId)}/reply`, directory, {
        method: 'POST',
        body: { reply },
        permission: permissionId,
      });
    },
  };
}

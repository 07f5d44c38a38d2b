import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, isErrorCode } from '@hal/protocol';
import { z } from 'zod';
import { CliError } from './exit-codes.ts';
import { parseSse, type SseMessage } from './sse.ts';

export const DEFAULT_URL = 'http://127.0.0.1:8421';
const WS_PORT = '8420';
const HTTP_PORT = '8421';

/**
 * The README shows the supervisor as `ws://host:8420` (the agents' port) and as
 * `http://host:8421` (the API). Both must work, so a WebSocket URL is mapped to the API on the
 * same host: ws → http, wss → https, and port 8420 (or none) → 8421.
 */
export function normalizeUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw new CliError(
      'USAGE',
      `--supervisor-url "${input}" is not a URL (try http://host:8421 or ws://host:8420)`,
    );
  }
  if (url.protocol === 'ws:' || url.protocol === 'wss:') {
    const secure = url.protocol === 'wss:';
    const port = url.port === '' || url.port === WS_PORT ? HTTP_PORT : url.port;
    url = new URL(
      `${secure ? 'https' : 'http'}://${url.hostname.includes(':') ? `[${url.hostname}]` : url.hostname}:${port}`,
    );
  } else if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError('USAGE', `--supervisor-url "${input}" must be http(s):// or ws(s)://`);
  }
  return url.origin;
}

const configFileSchema = z.strictObject({
  url: z.string().min(1).optional(),
  token: z.string().min(1).optional(),
});
export type ConfigFile = z.infer<typeof configFileSchema>;

export interface ConnectionInputs {
  url?: string | undefined;
  token?: string | undefined;
  configPath?: string | undefined;
  env: Readonly<Record<string, string | undefined>>;
}

/** `~/.config/halctl/config.json` (or `--config`); a missing default file is fine, a broken one is not. */
export async function readConfigFile(path: string, explicit: boolean): Promise<ConfigFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (!explicit && (err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw new CliError(
      ErrorCode.CONFIG_INVALID,
      `cannot read config file ${path}: ${(err as Error).message}`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new CliError(ErrorCode.CONFIG_INVALID, `config file ${path} is not JSON`);
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new CliError(
      ErrorCode.CONFIG_INVALID,
      `config file ${path}: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'} (keys: url, token)`,
    );
  }
  return parsed.data;
}

/** Flags win over HAL_URL / HAL_TOKEN, which win over the config file. */
export async function resolveConnection(
  inputs: ConnectionInputs,
): Promise<{ baseUrl: string; token?: string }> {
  const home = inputs.env.HOME ?? inputs.env.USERPROFILE ?? '.';
  const defaultPath = join(inputs.env.XDG_CONFIG_HOME ?? join(home, '.config'), 'halctl', 'config.json');
  const file = await readConfigFile(inputs.configPath ?? defaultPath, inputs.configPath !== undefined);
  const url = inputs.url ?? inputs.env.HAL_URL ?? file.url ?? DEFAULT_URL;
  const token = inputs.token ?? inputs.env.HAL_TOKEN ?? file.token;
  return token === undefined ? { baseUrl: normalizeUrl(url) } : { baseUrl: normalizeUrl(url), token };
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface ApiResponse<T = unknown> {
  data: T;
  meta: Record<string, unknown>;
}

export interface ApiClient {
  readonly baseUrl: string;
  get<T = unknown>(path: string, query?: Query): Promise<ApiResponse<T>>;
  post<T = unknown>(path: string, body?: unknown): Promise<ApiResponse<T>>;
  /** Server-Sent Events from `path`; ends when the server closes or `signal` aborts. */
  stream(
    path: string,
    query?: Query,
    opts?: { lastEventId?: string; signal?: AbortSignal },
  ): AsyncGenerator<SseMessage>;
}

const envelopeErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});

function toUrl(baseUrl: string, path: string, query: Query = {}): string {
  const url = new URL(path, baseUrl);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url.toString();
}

async function failure(res: Response): Promise<CliError> {
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    body = undefined;
  }
  const parsed = envelopeErrorSchema.safeParse(body);
  if (parsed.success && isErrorCode(parsed.data.error.code)) {
    const issues = (
      parsed.data.error.details as { issues?: Array<{ path: string; message: string }> } | undefined
    )?.issues;
    const more = issues && issues.length > 1 ? ` (${issues.length} problems)` : '';
    return new CliError(parsed.data.error.code, `${parsed.data.error.message}${more}`);
  }
  const code =
    res.status === 401
      ? ErrorCode.UNAUTHORIZED
      : res.status === 404
        ? ErrorCode.NOT_FOUND
        : ErrorCode.INTERNAL;
  return new CliError(code, `HTTP ${res.status} from ${res.url}`);
}

export function createApiClient(opts: {
  baseUrl: string;
  token?: string | undefined;
  fetch?: typeof fetch;
}): ApiClient {
  const doFetch = opts.fetch ?? fetch;
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
    ...extra,
  });
  const send = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await doFetch(url, init);
    } catch (err) {
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        ErrorCode.UNAVAILABLE,
        `cannot reach ${opts.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        { cause: err },
      );
    }
  };
  const json = async <T>(res: Response): Promise<ApiResponse<T>> => {
    if (!res.ok) throw await failure(res);
    return (await res.json()) as ApiResponse<T>;
  };
  return {
    baseUrl: opts.baseUrl,
    async get(path, query) {
      return json(await send(toUrl(opts.baseUrl, path, query), { headers: headers() }));
    },
    async post(path, body = {}) {
      return json(
        await send(toUrl(opts.baseUrl, path), {
          method: 'POST',
          headers: headers({ 'content-type': 'application/json' }),
          body: JSON.stringify(body),
        }),
      );
    },
    async *stream(path, query, streamOpts = {}) {
      const res = await send(toUrl(opts.baseUrl, path, query), {
        headers: headers({
          accept: 'text/event-stream',
          ...(streamOpts.lastEventId === undefined ? {} : { 'last-event-id': streamOpts.lastEventId }),
        }),
        ...(streamOpts.signal === undefined ? {} : { signal: streamOpts.signal }),
      });
      if (!res.ok || !res.body) throw await failure(res);
      yield* parseSse(res.body);
    },
  };
}

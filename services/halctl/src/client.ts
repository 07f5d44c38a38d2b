import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, isErrorCode } from '@hal/protocol';
import { z } from 'zod';
import { parseAnswer, unexpectedAnswer } from './api-answer.ts';
import { CliError } from './exit-codes.ts';
import { MAX_SSE_EVENT_BYTES, parseSse, SseEventTooLargeError } from './sse.ts';

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

/** One event of a stream, parsed: `id` is its stream sequence. */
export interface StreamEvent<T> {
  id: number;
  event?: string | undefined;
  data: T;
}

/**
 * The API as halctl sees it. Every answer is parsed against the schema the caller names —
 * the whole envelope for `get`/`post` (see `envelope()`), each event's `data` for `stream` —
 * so nothing the server sends is used on trust.
 */
export interface ApiClient {
  readonly baseUrl: string;
  get<S extends z.ZodType>(path: string, answer: S, query?: Query): Promise<z.output<S>>;
  /** With `idempotencyKey`, the command runs at most once however often the same key is sent. */
  post<S extends z.ZodType>(
    path: string,
    answer: S,
    body?: unknown,
    opts?: { idempotencyKey?: string },
  ): Promise<z.output<S>>;
  put<S extends z.ZodType>(path: string, answer: S, body: unknown): Promise<z.output<S>>;
  /** Server-Sent Events from `path`; ends when the server closes or `signal` aborts. */
  stream<S extends z.ZodType>(
    path: string,
    data: S,
    query?: Query,
    opts?: { lastEventId?: string; signal?: AbortSignal; maxEventBytes?: number },
  ): AsyncGenerator<StreamEvent<z.output<S>>>;
}

const envelopeErrorSchema = z.object({
  error: z.object({ code: z.string(), message: z.string(), details: z.unknown().optional() }),
});
/** VALIDATION_FAILED details list every problem; halctl says how many there were. */
const validationDetailsSchema = z.object({
  issues: z.array(z.object({ path: z.string(), message: z.string() })),
});
/** The stream sequence a stored event's SSE `id` carries. */
const streamSeqSchema = z
  .string('expected the stream sequence number, got none')
  .regex(/^[1-9]\d*$/, 'expected the stream sequence number');

function toUrl(baseUrl: string, path: string, query: Query = {}): string {
  const url = new URL(path, baseUrl);
  for (const [key, value] of Object.entries(query)) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  return url.toString();
}

/** Default for one request; `--timeout` sets it. Streams (`events tail`) have none. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Far above any real answer (10,000 sessions are a few MB); a larger one is refused, not buffered. */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

class AnswerTooLargeError extends Error {}

/** The body as text, refusing (and cancelling the transfer) past `MAX_ANSWER_BYTES`. */
async function readText(res: Response): Promise<string> {
  if (res.body === null) return '';
  if (Number(res.headers.get('content-length')) > MAX_ANSWER_BYTES) {
    await res.body.cancel().catch(() => undefined);
    throw new AnswerTooLargeError(`answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const parts: string[] = [];
  let size = 0;
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > MAX_ANSWER_BYTES) {
        throw new AnswerTooLargeError(`answer larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB`);
      }
      parts.push(decoder.decode(value, { stream: true }));
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
  parts.push(decoder.decode());
  return parts.join('');
}

async function failure(res: Response): Promise<CliError> {
  let body: unknown;
  try {
    body = JSON.parse(await readText(res));
  } catch {
    body = undefined;
  }
  const parsed = envelopeErrorSchema.safeParse(body);
  if (parsed.success && isErrorCode(parsed.data.error.code)) {
    const details = validationDetailsSchema.safeParse(parsed.data.error.details);
    const count = details.success ? details.data.issues.length : 0;
    const more = count > 1 ? ` (${count} problems)` : '';
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
  /** Per request, body included; default DEFAULT_TIMEOUT_MS. */
  timeoutMs?: number;
}): ApiClient {
  const doFetch = opts.fetch ?? fetch;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const headers = (extra: Record<string, string> = {}): Record<string, string> => ({
    ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
    ...extra,
  });
  const deadline = () => AbortSignal.timeout(timeoutMs);
  const timedOut = () =>
    new CliError(
      ErrorCode.TIMEOUT,
      `no answer from ${opts.baseUrl} within ${timeoutMs / 1000} s (--timeout)`,
    );
  const send = async (url: string, init: RequestInit): Promise<Response> => {
    try {
      return await doFetch(url, init);
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw timedOut();
      if ((err as Error).name === 'AbortError') throw err;
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      throw new CliError(
        ErrorCode.UNAVAILABLE,
        `cannot reach ${opts.baseUrl}: ${cause?.code ?? cause?.message ?? (err as Error).message}`,
        { cause: err },
      );
    }
  };
  const answer = async <S extends z.ZodType>(res: Response, path: string, schema: S) => {
    if (!res.ok) throw await failure(res);
    let text: string;
    try {
      text = await readText(res);
    } catch (err) {
      if ((err as Error).name === 'TimeoutError') throw timedOut();
      if (err instanceof AnswerTooLargeError) throw unexpectedAnswer(path, err.message, err);
      throw err;
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch (err) {
      const type = res.headers.get('content-type') ?? 'no content-type';
      throw unexpectedAnswer(path, `body is not JSON (${type})`, err);
    }
    return parseAnswer(schema, body, path);
  };
  return {
    baseUrl: opts.baseUrl,
    async get(path, schema, query) {
      const res = await send(toUrl(opts.baseUrl, path, query), { headers: headers(), signal: deadline() });
      return answer(res, path, schema);
    },
    async put(path, schema, body) {
      const res = await send(toUrl(opts.baseUrl, path), {
        method: 'PUT',
        headers: headers({ 'content-type': 'application/json' }),
        body: JSON.stringify(body),
        signal: deadline(),
      });
      return answer(res, path, schema);
    },
    async post(path, schema, body = {}, postOpts = {}) {
      const key = postOpts.idempotencyKey;
      const res = await send(toUrl(opts.baseUrl, path), {
        method: 'POST',
        headers: headers({
          'content-type': 'application/json',
          ...(key === undefined ? {} : { 'idempotency-key': key }),
        }),
        body: JSON.stringify(body),
        signal: deadline(),
      });
      return answer(res, path, schema);
    },
    async *stream(path, schema, query, streamOpts = {}) {
      const res = await send(toUrl(opts.baseUrl, path, query), {
        headers: headers({
          accept: 'text/event-stream',
          ...(streamOpts.lastEventId === undefined ? {} : { 'last-event-id': streamOpts.lastEventId }),
        }),
        ...(streamOpts.signal === undefined ? {} : { signal: streamOpts.signal }),
      });
      if (!res.ok || !res.body) throw await failure(res);
      const messages = parseSse(res.body, { maxEventBytes: streamOpts.maxEventBytes ?? MAX_SSE_EVENT_BYTES });
      try {
        for await (const m of messages) {
          const id = parseAnswer(streamSeqSchema, m.id, path, ['id']);
          let raw: unknown;
          try {
            raw = JSON.parse(m.data);
          } catch (err) {
            throw unexpectedAnswer(path, `event ${id}: data is not JSON`, err);
          }
          yield {
            id: Number(id),
            event: m.event,
            data: parseAnswer(schema, raw, path, [`event ${id}: data`]),
          };
        }
      } catch (err) {
        if (err instanceof SseEventTooLargeError) throw unexpectedAnswer(path, err.message, err);
        throw err;
      }
    },
  };
}

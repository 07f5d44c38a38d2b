import { backoffDelay, type Logger } from '@hal/observability';
import { ErrorCode, HalError, issuesOf } from '@hal/protocol';
import type { z } from 'zod';

export type FetchFn = typeof fetch;
export type SleepFn = (ms: number) => Promise<void>;

export interface RetryPolicy {
  /** 429 answers tolerated per request before giving up. */
  max429: number;
  /** 5xx answers and network failures tolerated per request. */
  max5xx: number;
  baseDelayMs: number;
  /** Cap on any wait, including a provider's `retry-after`: a poll must end before the next one. */
  maxDelayMs: number;
  /** One request, body included; a stalled provider counts as a network failure and is retried. */
  requestTimeoutMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = {
  max429: 5,
  max5xx: 4,
  baseDelayMs: 500,
  maxDelayMs: 60_000,
  requestTimeoutMs: 30_000,
};

/** A page of a provider report: the buckets plus the cursor to the next page. */
export interface ReportPage<B> {
  data: B[];
  has_more: boolean;
  next_page?: string | null | undefined;
}

export interface PagedRequest<B> {
  provider: string;
  fetch: FetchFn;
  sleep: SleepFn;
  log: Logger;
  url: URL;
  headers: Record<string, string>;
  pageSchema: z.ZodType<ReportPage<B>>;
  retry?: RetryPolicy;
  /** Guard against a provider that says has_more for ever. */
  maxPages?: number;
}

const BODY_SNIPPET = 120;

/** `retry-after` is seconds or an HTTP date; anything else falls back to backoff. */
export function retryAfterMs(header: string | null, nowMs: number): number | undefined {
  if (header === null) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}

function backoffMs(policy: RetryPolicy, attempt: number): number {
  return backoffDelay(attempt, { initialMs: policy.baseDelayMs, maxMs: policy.maxDelayMs });
}

function failure(code: ErrorCode, provider: string, message: string, details: Record<string, unknown> = {}) {
  return new HalError(code, `${provider}: ${message}`, { details: { provider, ...details } });
}

/** A usage/cost report page is kilobytes; a body this large is not one, whatever it claims. */
export const MAX_PROVIDER_BODY_BYTES = 16 * 1024 * 1024;

const MIB = 1024 * 1024;
const sizeText = (bytes: number): string => (bytes % MIB === 0 ? `${bytes / MIB} MiB` : `${bytes} bytes`);

/**
 * The body as text, read with a byte counter instead of `res.text()`: a provider (or a proxy in
 * front of it) that streams without end must fail this poll, not fill the poller's memory. The
 * count is of decoded bytes, so a compressed body cannot slip past it either.
 */
export async function readBodyLimited(
  res: Response,
  provider: string,
  path: string,
  maxBytes: number = MAX_PROVIDER_BODY_BYTES,
): Promise<string> {
  const tooLarge = () =>
    failure(ErrorCode.PROVIDER_BAD_RESPONSE, provider, `${path} response larger than ${sizeText(maxBytes)}`, {
      path,
      limit_bytes: maxBytes,
    });
  if (res.body === null) return '';
  const reader = res.body.getReader();
  try {
    // A declared length over the limit fails before a byte is read.
    if (Number(res.headers.get('content-length')) > maxBytes) throw tooLarge();
    const decoder = new TextDecoder();
    const parts: string[] = [];
    let size = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > maxBytes) throw tooLarge();
      parts.push(decoder.decode(value, { stream: true }));
    }
    parts.push(decoder.decode());
    return parts.join('');
  } finally {
    // Stops the transfer when the read ended early; a body already fully read has nothing to cancel.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

/** One GET with the retry rules: 429 honours retry-after, 5xx and network errors back off, 401/403 stop. */
async function getOnce(req: PagedRequest<unknown>, url: URL, policy: RetryPolicy): Promise<string> {
  let rateLimited = 0;
  let serverErrors = 0;
  for (;;) {
    let res: Response;
    let body: string;
    try {
      // The admin key is in the headers: a redirect is never followed (it could send the key to
      // another host); the timeout covers reading the body too.
      res = await req.fetch(url, {
        method: 'GET',
        headers: req.headers,
        redirect: 'manual',
        signal: AbortSignal.timeout(policy.requestTimeoutMs),
      });
      body = await readBodyLimited(res, req.provider, url.pathname);
    } catch (err) {
      if (err instanceof HalError) throw err;
      serverErrors += 1;
      if (serverErrors > policy.max5xx) {
        const reason =
          (err as Error).name === 'TimeoutError'
            ? `no answer within ${policy.requestTimeoutMs} ms`
            : `unreachable: ${(err as Error).message}`;
        throw failure(ErrorCode.UNAVAILABLE, req.provider, reason);
      }
      await req.sleep(backoffMs(policy, serverErrors - 1));
      continue;
    }
    if (res.ok) return body;
    if (res.status >= 300 && res.status < 400) {
      throw failure(
        ErrorCode.PROVIDER_BAD_RESPONSE,
        req.provider,
        `HTTP ${res.status} redirect refused: the admin key is only sent to the configured base_url`,
        { status: res.status, location: (res.headers.get('location') ?? '').slice(0, BODY_SNIPPET) },
      );
    }
    if (res.status === 401 || res.status === 403) {
      throw failure(ErrorCode.PROVIDER_AUTH_FAILED, req.provider, `admin key refused (HTTP ${res.status})`, {
        status: res.status,
      });
    }
    if (res.status === 429) {
      rateLimited += 1;
      if (rateLimited > policy.max429) {
        throw failure(
          ErrorCode.RATE_LIMITED,
          req.provider,
          `still rate limited after ${policy.max429} retries`,
        );
      }
      const wait =
        retryAfterMs(res.headers.get('retry-after'), Date.now()) ?? backoffMs(policy, rateLimited - 1);
      req.log.warn(
        { provider: req.provider, wait_ms: Math.min(wait, policy.maxDelayMs) },
        'provider rate limited',
      );
      await req.sleep(Math.min(wait, policy.maxDelayMs));
      continue;
    }
    if (res.status >= 500) {
      serverErrors += 1;
      if (serverErrors > policy.max5xx) {
        throw failure(
          ErrorCode.UNAVAILABLE,
          req.provider,
          `HTTP ${res.status} after ${policy.max5xx} retries`,
          {
            status: res.status,
          },
        );
      }
      await req.sleep(backoffMs(policy, serverErrors - 1));
      continue;
    }
    throw failure(ErrorCode.PROVIDER_BAD_RESPONSE, req.provider, `HTTP ${res.status}`, {
      status: res.status,
      body: body.slice(0, BODY_SNIPPET),
    });
  }
}

/**
 * Follows every page of a report and returns all buckets. Any failure throws before the caller
 * has stored anything, so a half-read report can never become a wrong total.
 */
export async function fetchAllPages<B>(req: PagedRequest<B>): Promise<B[]> {
  const policy = req.retry ?? DEFAULT_RETRY;
  const maxPages = req.maxPages ?? 500;
  const buckets: B[] = [];
  let page: string | undefined;
  for (let n = 0; ; n++) {
    if (n >= maxPages) {
      throw failure(ErrorCode.PROVIDER_BAD_RESPONSE, req.provider, `more than ${maxPages} pages; giving up`);
    }
    const url = new URL(req.url);
    if (page !== undefined) url.searchParams.set('page', page);
    const body = await getOnce(req as PagedRequest<unknown>, url, policy);
    let raw: unknown;
    try {
      raw = JSON.parse(body);
    } catch {
      const kind = /^\s*</.test(body) ? 'HTML instead of JSON' : 'truncated or invalid JSON';
      throw failure(ErrorCode.PROVIDER_BAD_RESPONSE, req.provider, `${url.pathname} answered ${kind}`, {
        path: url.pathname,
        body: body.slice(0, BODY_SNIPPET),
      });
    }
    const parsed = req.pageSchema.safeParse(raw);
    if (!parsed.success) {
      const issues = issuesOf(parsed.error);
      const first = issues[0];
      throw failure(
        ErrorCode.PROVIDER_BAD_RESPONSE,
        req.provider,
        `${url.pathname} response rejected at ${first?.path ?? '(root)'}: ${first?.message ?? 'invalid'}`,
        { path: url.pathname, issues: issues.slice(0, 5) },
      );
    }
    buckets.push(...parsed.data.data);
    if (!parsed.data.has_more) return buckets;
    const next = parsed.data.next_page;
    if (typeof next !== 'string' || next === '' || next === page) {
      throw failure(
        ErrorCode.PROVIDER_BAD_RESPONSE,
        req.provider,
        `${url.pathname} has_more without a new next_page`,
      );
    }
    page = next;
  }
}

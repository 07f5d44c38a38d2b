import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * What the provider fakes share: an HTTP server on loopback that records every request,
 * checks the admin key, pages buckets and injects the failures real admin APIs show.
 */
export type FakeFailure = '429' | '500' | '401' | 'html' | 'truncated' | 'negative' | 'non_numeric';

export interface RecordedProviderRequest {
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  /** The status the fake answered. */
  status: number;
}

export interface FakeProviderBase {
  url: string;
  requests: RecordedProviderRequest[];
  /**
   * The next `n` requests fail this way; `retryAfter` is sent as the `retry-after` header of a 429.
   * With `path`, only requests to that path count (to break a cycle mid-way, after other pages).
   */
  failNext(kind: FakeFailure, n?: number, retryAfter?: string, path?: string): void;
  stop(): Promise<void>;
}

export interface Answer {
  status: number;
  body: unknown;
}

export interface FakeServerSpec {
  /** True when the request carries the right admin key. */
  authorized(headers: IncomingHttpHeaders): boolean;
  unauthorizedBody: unknown;
  errorBody(status: number, message: string): unknown;
  /** Answers a path; undefined = 404. */
  handle(path: string, query: URLSearchParams, headers: IncomingHttpHeaders): Answer | undefined;
  /** Breaks the first amount of a good answer (for 'negative' / 'non_numeric'); false when it holds none. */
  corrupt(body: unknown, kind: 'negative' | 'non_numeric'): boolean;
}

export async function startFakeProviderServer(spec: FakeServerSpec): Promise<FakeProviderBase> {
  const requests: RecordedProviderRequest[] = [];
  const failures: Array<{ kind: FakeFailure; retryAfter?: string | undefined; path?: string | undefined }> =
    [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const record: RecordedProviderRequest = {
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      status: 200,
    };
    requests.push(record);
    const send = (
      status: number,
      body: string,
      type = 'application/json',
      extra: Record<string, string> = {},
    ) => {
      record.status = status;
      res.writeHead(status, { 'content-type': type, ...extra });
      res.end(body);
    };
    if (!spec.authorized(req.headers)) {
      send(401, JSON.stringify(spec.unauthorizedBody));
      return;
    }
    const at = failures.findIndex((f) => f.path === undefined || f.path === url.pathname);
    const failure = at === -1 ? undefined : failures.splice(at, 1)[0];
    if (failure?.kind === '401') return send(401, JSON.stringify(spec.unauthorizedBody));
    if (failure?.kind === '429') {
      const extra: Record<string, string> =
        failure.retryAfter === undefined ? {} : { 'retry-after': failure.retryAfter };
      return send(429, JSON.stringify(spec.errorBody(429, 'rate limit exceeded')), 'application/json', extra);
    }
    if (failure?.kind === '500')
      return send(500, JSON.stringify(spec.errorBody(500, 'internal server error')));
    if (failure?.kind === 'html') {
      return send(200, '<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>', 'text/html');
    }
    const answer = spec.handle(url.pathname, url.searchParams, req.headers);
    if (answer === undefined) return send(404, JSON.stringify(spec.errorBody(404, 'not found')));
    if (
      (failure?.kind === 'negative' || failure?.kind === 'non_numeric') &&
      !spec.corrupt(answer.body, failure.kind)
    ) {
      // Nothing to break on this page (empty buckets): the failure waits for a page with results.
      failures.splice(at, 0, failure);
    }
    const text = JSON.stringify(answer.body);
    send(
      answer.status,
      failure?.kind === 'truncated' ? text.slice(0, Math.max(1, Math.floor(text.length / 2))) : text,
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    failNext(kind, n = 1, retryAfter, path) {
      for (let i = 0; i < n; i++) failures.push({ kind, retryAfter, path });
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** `group_by[]=a&group_by[]=b`, also accepting `group_by=a,b` and repeated `group_by`. */
export function groupByOf(query: URLSearchParams): string[] {
  return [...query.getAll('group_by[]'), ...query.getAll('group_by')]
    .flatMap((v) => v.split(','))
    .filter(Boolean);
}

const DAY_MS = 86_400_000;

/** The UTC days from `startMs` (snapped down) to before `endMs`, never past the day of `nowMs`. */
export function bucketDays(startMs: number, endMs: number, nowMs: number): string[] {
  const days: string[] = [];
  const last = Math.min(endMs, Math.floor(nowMs / DAY_MS) * DAY_MS + DAY_MS);
  for (let t = Math.floor(startMs / DAY_MS) * DAY_MS; t < last; t += DAY_MS) {
    days.push(new Date(t).toISOString().slice(0, 10));
  }
  return days;
}

/** One page of `items` after the opaque cursor `page`; the cursor encodes the next index. */
export function pageOf<T>(
  items: T[],
  page: string | null,
  limit: number,
): { items: T[]; next: string | null } {
  const start = page === null ? 0 : Number(Buffer.from(page.replace(/^page_/, ''), 'base64url').toString());
  const end = start + limit;
  return {
    items: items.slice(start, end),
    next: end < items.length ? `page_${Buffer.from(String(end)).toString('base64url')}` : null,
  };
}

/** Sums entries per value of the grouped fields; fields not grouped come back null, like the real APIs. */
export function groupEntries<E extends Record<string, unknown>>(
  entries: E[],
  groupable: readonly string[],
  groupBy: readonly string[],
  sum: (into: Record<string, unknown>, add: E) => void,
): Array<Record<string, unknown>> {
  const groups = new Map<string, Record<string, unknown>>();
  for (const e of entries) {
    const key = JSON.stringify(groupable.map((g) => (groupBy.includes(g) ? (e[g] ?? null) : null)));
    let row = groups.get(key);
    if (row === undefined) {
      row = {};
      for (const g of groupable) row[g] = groupBy.includes(g) ? (e[g] ?? null) : null;
      groups.set(key, row);
    }
    sum(row, e);
  }
  return [...groups.values()];
}

/** Adds two non-negative decimal strings exactly (amounts must not pick up float noise in the fake either). */
export function addDecimal(a: string, b: string): string {
  const scale = 12;
  const toInt = (v: string) => {
    const [i = '0', f = ''] = v.split('.');
    return BigInt(i + f.padEnd(scale, '0').slice(0, scale));
  };
  const s = (toInt(a) + toInt(b)).toString().padStart(scale + 1, '0');
  const int = s.slice(0, -scale);
  const frac = s.slice(-scale).replace(/0+$/, '');
  return frac === '' ? int : `${int}.${frac}`;
}

/** A refusal or failure from the API: its stable code (ErrorCode catalogue) and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface Envelope<T> {
  data: T;
  meta: Record<string, unknown>;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface Api {
  get<T>(path: string, query?: Query): Promise<Envelope<T>>;
  post<T>(path: string, body?: Record<string, unknown>): Promise<Envelope<T>>;
  /** Absolute URL of an API path (relative to the page, so a path prefix in front of the gateway works). */
  url(path: string, query?: Query): string;
}

/** Paths are relative (`api/v1/...`): the page is served at the gateway's `/`, or under a proxy's prefix. */
export function createApi(token: string): Api {
  const url = (path: string, query?: Query): string => {
    const u = new URL(path, document.baseURI);
    for (const [k, v] of Object.entries(query ?? {}))
      if (v !== undefined && v !== '') u.searchParams.set(k, String(v));
    return u.toString();
  };
  async function call<T>(
    method: 'GET' | 'POST',
    path: string,
    query?: Query,
    body?: unknown,
  ): Promise<Envelope<T>> {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(url(path, query), {
        method,
        headers,
        cache: 'no-store',
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    } catch (err) {
      throw new ApiError(
        0,
        'NETWORK',
        `the API is not reachable (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    const json = (await res.json().catch(() => undefined)) as
      | (Envelope<T> & { error?: { code: string; message: string } })
      | undefined;
    if (!res.ok || json === undefined) {
      throw new ApiError(
        res.status,
        json?.error?.code ?? 'HTTP',
        json?.error?.message ?? `HTTP ${res.status}`,
      );
    }
    return json;
  }
  return {
    get: (path, query) => call('GET', path, query),
    post: (path, body) => call('POST', path, undefined, body ?? {}),
    url,
  };
}

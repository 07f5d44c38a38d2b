import { ErrorCode, HalError } from '@hal/protocol';

/**
 * `security.origin_allowlist` for both listeners (agent WebSockets and the HTTP API). Browsers
 * always send `Origin` on cross-site requests and scripts cannot forge it; agents, curl and
 * halctl send none. So a request without `Origin` passes, an empty list lets every origin
 * through, and only a named origin missing from a non-empty list is refused.
 */
export function checkOrigin(origin: string | undefined, allowlist: readonly string[]): HalError | undefined {
  if (origin === undefined || allowlist.length === 0 || allowlist.includes(origin)) return undefined;
  return new HalError(ErrorCode.ORIGIN_NOT_ALLOWED, `origin ${origin} is not in security.origin_allowlist`);
}

/**
 * Whether responses may carry CORS headers for `origin`: only when the list names it. An
 * empty list enforces nothing but grants nothing either, so browsers keep their same-origin
 * default; there is never a wildcard.
 */
export function corsAllowed(origin: string | undefined, allowlist: readonly string[]): origin is string {
  return origin !== undefined && allowlist.includes(origin);
}

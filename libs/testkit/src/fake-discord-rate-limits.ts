// Rate limits of the fake Discord: per-bucket headers as Discord sends them, the bucket's own
// 429 when a bot sends more than it was told it could, and 429s a test injects (rateLimitNext).
import { randomBytes } from 'node:crypto';

export interface RateLimitRule {
  method?: string;
  /** Matched against the path after `/api/v10`. Default: every path. */
  path?: RegExp;
  /** Sent as `Retry-After` (seconds, with decimals) and `retry_after` in the body. Default 1,000 ms. */
  retryAfterMs?: number;
  /** A global limit (`X-RateLimit-Global`), which stops every route of the bot. */
  global?: boolean;
  /** How many matching requests get the 429. Default 1. */
  times?: number;
}

/** A 429 to send: how long to wait, and whether it stops every route of the bot. */
interface RateLimitHit {
  retryAfterMs: number;
  global: boolean;
}

export interface RateLimits {
  /** Counts the request against its bucket and returns the bucket's `x-ratelimit-*` headers. */
  headers(bucket: string, now: number): Record<string, string>;
  /** An injected 429, or the bucket's own when the bot sent more than it was told it could. */
  limited(method: string, path: string, bucket: string, now: number): RateLimitHit | undefined;
  /** The headers of a 429 for `hit`. */
  refusalHeaders(hit: RateLimitHit, bucket: string, now: number): Record<string, string>;
  inject(rule: RateLimitRule): void;
}

export function createRateLimits(bucketLimit: number, bucketWindowMs: number): RateLimits {
  const limits: Array<
    Required<Omit<RateLimitRule, 'path' | 'method'>> & Pick<RateLimitRule, 'path' | 'method'>
  > = [];
  const buckets = new Map<string, { remaining: number; resetAt: number; hash: string }>();

  function headers(bucket: string, now: number): Record<string, string> {
    let b = buckets.get(bucket);
    if (!b || now >= b.resetAt) {
      b = {
        remaining: bucketLimit,
        resetAt: now + bucketWindowMs,
        hash: b?.hash ?? randomBytes(8).toString('hex'),
      };
      buckets.set(bucket, b);
    }
    b.remaining = Math.max(0, b.remaining - 1);
    return {
      'x-ratelimit-limit': String(bucketLimit),
      'x-ratelimit-remaining': String(b.remaining),
      'x-ratelimit-reset': (b.resetAt / 1000).toFixed(3),
      'x-ratelimit-reset-after': ((b.resetAt - now) / 1000).toFixed(3),
      'x-ratelimit-bucket': b.hash,
    };
  }

  function limited(method: string, path: string, bucket: string, now: number): RateLimitHit | undefined {
    const at = limits.findIndex((r) => (!r.method || r.method === method) && (!r.path || r.path.test(path)));
    if (at !== -1) {
      const rule = limits[at]!;
      rule.times -= 1;
      if (rule.times <= 0) limits.splice(at, 1);
      return { retryAfterMs: rule.retryAfterMs, global: rule.global };
    }
    const b = buckets.get(bucket);
    if (b && now < b.resetAt && b.remaining === 0) return { retryAfterMs: b.resetAt - now, global: false };
    return undefined;
  }

  return {
    headers,
    limited,
    refusalHeaders(hit, bucket, now) {
      const seconds = hit.retryAfterMs / 1000;
      return {
        'retry-after': seconds.toFixed(3),
        'x-ratelimit-limit': String(bucketLimit),
        'x-ratelimit-remaining': '0',
        'x-ratelimit-reset': ((now + hit.retryAfterMs) / 1000).toFixed(3),
        'x-ratelimit-reset-after': seconds.toFixed(3),
        'x-ratelimit-bucket': buckets.get(bucket)?.hash ?? 'fake',
        'x-ratelimit-scope': hit.global ? 'global' : 'user',
        ...(hit.global ? { 'x-ratelimit-global': 'true' } : {}),
      };
    },
    inject(rule) {
      limits.push({ retryAfterMs: 1_000, global: false, times: 1, ...rule });
    },
  };
}

/** A capped exponential backoff: the first delay, doubled at each attempt, never above the cap. */
export interface Backoff {
  initialMs: number;
  maxMs: number;
}

/** 2^30 × any sane initial delay is far past every cap; bounding the exponent keeps it finite. */
const MAX_EXPONENT = 30;

/**
 * The delay before retry `attempt` (0-based): `initialMs · 2^attempt`, capped at `maxMs`.
 * With `random`, full jitter — a whole number of ms, uniform in [0, that delay) — so a fleet
 * cut off from the same server does not come back in lockstep; tests pass a fixed `random`.
 * Without it, the capped delay itself (one process retrying its own child or request).
 */
export function backoffDelay(attempt: number, backoff: Backoff, random?: () => number): number {
  const exponent = Math.min(Math.max(0, attempt), MAX_EXPONENT);
  const capped = Math.min(backoff.maxMs, backoff.initialMs * 2 ** exponent);
  return random === undefined ? capped : Math.floor(random() * capped);
}

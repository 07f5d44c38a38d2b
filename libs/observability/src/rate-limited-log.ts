import type { Logger } from 'pino';

export interface RateLimitedLogOptions {
  /** Lines per key within one window; the rest are counted and reported with the next line. */
  burst?: number;
  windowMs?: number;
  now?: () => number;
}

export interface RateLimitedLog {
  /** Logs `msg` at warn level unless `key` already logged `burst` lines in this window. */
  warn(key: string, fields: Record<string, unknown>, msg: string): void;
}

/**
 * A warn log that a flood cannot turn into a disk-filling stream: refused logins, bad frames
 * and other things an attacker controls are logged a few times per window and key, and the
 * first line after a quiet spell says how many were left out. Keys are few (reasons, codes), and
 * the table is cleared when it grows past 1,000 so hostile keys cannot grow it either.
 */
export function createRateLimitedLog(log: Logger, opts: RateLimitedLogOptions = {}): RateLimitedLog {
  const burst = opts.burst ?? 5;
  const windowMs = opts.windowMs ?? 60_000;
  const now = opts.now ?? Date.now;
  const windows = new Map<string, { start: number; logged: number; suppressed: number }>();
  return {
    warn(key, fields, msg) {
      const t = now();
      let w = windows.get(key);
      if (w === undefined || t - w.start >= windowMs) {
        const suppressed = w?.suppressed ?? 0;
        if (windows.size >= 1_000) windows.clear();
        w = { start: t, logged: 0, suppressed: 0 };
        windows.set(key, w);
        if (suppressed > 0) fields = { ...fields, suppressed_before: suppressed };
      }
      if (w.logged >= burst) {
        w.suppressed += 1;
        return;
      }
      w.logged += 1;
      log.warn(fields, msg);
    },
  };
}

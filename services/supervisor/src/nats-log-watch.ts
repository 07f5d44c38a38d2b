import type { Logger } from '@hal/observability';

/** `… - Publish Violation - User "tracker", Subject "hal.cmd.x"` (also `Subscription Violation`). */
const VIOLATION = /(Publish|Subscription) Violation - User "([^"]*)", Subject "([^"]*)"/;
/** `… - authentication error - User ""`: a client without (valid) credentials. */
const AUTH_ERROR = /authentication error - User "([^"]*)"/;

/** At most this many refusals are logged per window; the rest are counted in the next line. */
const MAX_PER_WINDOW = 20;
const WINDOW_MS = 10_000;

/**
 * Reads the embedded nats-server's log lines: each at debug, and refusals — a permission
 * violation by a user, a client refused for its credentials — as warnings, so a service that
 * lacks a permission (or a client probing for one) shows in the supervisor's own log.
 * Rate-limited: a client retrying in a loop cannot flood the log.
 */
export function createNatsLogWatch(log: Logger, now: () => number = Date.now): (line: string) => void {
  let windowStart = 0;
  let logged = 0;
  let suppressed = 0;
  const admit = (): boolean => {
    const t = now();
    if (t - windowStart >= WINDOW_MS) {
      if (suppressed > 0) log.warn({ suppressed }, 'nats refusals not logged in the last window');
      windowStart = t;
      logged = 0;
      suppressed = 0;
    }
    if (logged >= MAX_PER_WINDOW) {
      suppressed += 1;
      return false;
    }
    logged += 1;
    return true;
  };
  return (line) => {
    log.debug({ line }, 'nats-server output');
    const violation = VIOLATION.exec(line);
    if (violation !== null) {
      if (admit()) {
        log.warn(
          { kind: violation[1]?.toLowerCase(), user: violation[2], subject: violation[3] },
          'nats permission violation',
        );
      }
      return;
    }
    const refused = AUTH_ERROR.exec(line);
    if (refused !== null && admit()) {
      log.warn(
        { user: refused[1] === '' ? '(anonymous)' : refused[1] },
        'nats client refused: bad credentials',
      );
    }
  };
}

import type { Clock } from '@hal/observability';

/**
 * Command deadlines read from the injected clock. The timer only decides how soon an expired one
 * is noticed; whether it expired is the clock's answer, so a test moves a FakeClock and calls
 * `check()` instead of waiting out a wall-clock window.
 */
export interface Deadlines {
  /** Calls `onExpire` once `ms` have passed by the clock; the returned function cancels it. */
  after(ms: number, onExpire: () => void): () => void;
  /** Fires every deadline that has passed by the clock (the timer calls the same). */
  check(): void;
  stop(): void;
}

export function createDeadlines(clock: Clock, checkEveryMs: number): Deadlines {
  const pending = new Map<symbol, { at: number; onExpire: () => void }>();
  let timer: NodeJS.Timeout | undefined;

  function check(): void {
    const now = clock.now();
    for (const [key, d] of pending) {
      if (d.at > now) continue;
      pending.delete(key);
      d.onExpire();
    }
    // No timer while nothing waits: an idle agent never wakes for this.
    if (pending.size === 0 && timer !== undefined) {
      clearInterval(timer);
      timer = undefined;
    }
  }

  return {
    after(ms, onExpire) {
      const key = Symbol('deadline');
      pending.set(key, { at: clock.now() + ms, onExpire });
      if (timer === undefined) {
        timer = setInterval(check, checkEveryMs);
        timer.unref();
      }
      return () => {
        pending.delete(key);
      };
    },
    check,
    stop() {
      clearInterval(timer);
      timer = undefined;
      pending.clear();
    },
  };
}

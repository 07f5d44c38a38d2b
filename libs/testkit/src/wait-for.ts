export interface WaitForOptions {
  /**
   * Default 15 s: generous on purpose. A condition that holds returns at once, so the deadline
   * only decides how long a real failure takes to report — while a tight one fails good code on
   * a loaded 2-core CI machine.
   */
  timeoutMs?: number;
  intervalMs?: number;
  /** Text of the error thrown when the deadline passes. */
  message?: string;
}

/**
 * Polls `predicate` until it returns a truthy value (which is returned) or the deadline passes.
 * A predicate that throws counts as "not yet"; its last error is attached as `cause`.
 */
export async function waitFor<T>(
  predicate: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  const intervalMs = opts.intervalMs ?? 25;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await predicate();
      if (value) return value as NonNullable<T>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const message = opts.message ?? 'condition not met';
      throw new Error(`waitFor timed out after ${timeoutMs} ms: ${message}`, { cause: lastError });
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

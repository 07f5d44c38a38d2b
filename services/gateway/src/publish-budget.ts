interface BudgetWaiter {
  budgetAvailable(): void;
}

/**
 * Publishes in flight over all connections of one gateway. A connection above its own limit,
 * or any connection while the gateway is above the global one, pauses reading its socket:
 * TCP then pushes back on the agent, which keeps the rest in its spool, instead of the
 * gateway buffering without bound while JetStream is slow.
 */
export class PublishBudget {
  readonly #limit: number;
  #inFlight = 0;
  /** Connections paused on the budget (their ingest: an object, so none makes a closure for it). */
  readonly #paused = new Set<BudgetWaiter>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  get exhausted(): boolean {
    return this.#inFlight >= this.#limit;
  }

  acquire(): void {
    this.#inFlight++;
  }

  release(): void {
    this.#inFlight--;
    // Resume at half the limit, so a busy gateway does not pause and resume on every ack.
    if (this.#paused.size > 0 && this.#inFlight <= this.#limit / 2) {
      const waiting = [...this.#paused];
      this.#paused.clear();
      for (const waiter of waiting) waiter.budgetAvailable();
    }
  }

  /** Calls `waiter.budgetAvailable()` once the global count is low again. */
  whenAvailable(waiter: BudgetWaiter): void {
    this.#paused.add(waiter);
  }

  forget(waiter: BudgetWaiter): void {
    this.#paused.delete(waiter);
  }
}

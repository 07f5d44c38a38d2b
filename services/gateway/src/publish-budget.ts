/**
 * Publishes in flight over all connections of one gateway. A connection above its own limit,
 * or any connection while the gateway is above the global one, pauses reading its socket:
 * TCP then pushes back on the agent, which keeps the rest in its spool, instead of the
 * gateway buffering without bound while JetStream is slow.
 */
export class PublishBudget {
  readonly #limit: number;
  #inFlight = 0;
  readonly #paused = new Set<() => void>();

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
      for (const resume of waiting) resume();
    }
  }

  /** Calls `resume` once the global count is low again. */
  whenAvailable(resume: () => void): void {
    this.#paused.add(resume);
  }

  forget(resume: () => void): void {
    this.#paused.delete(resume);
  }
}

export interface ReadinessResult {
  ok: boolean;
  /** Why it fails, or `degraded: …` for a component that works but not fully (still ready). */
  detail?: string;
}

export type ReadinessCheck = () => ReadinessResult | Promise<ReadinessResult>;

export interface ReadinessCheckOutcome {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface ReadinessReport {
  ready: boolean;
  checks: ReadinessCheckOutcome[];
}

export interface ReadinessOptions {
  /** How long one check may take before it counts as failing. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 1_000;

/**
 * The components a process needs before it can serve (NATS, streams, DB, …). Each service
 * registers its own checks on a shared instance, so `/readyz` names exactly what is broken.
 */
export class Readiness {
  readonly #checks = new Map<string, ReadinessCheck>();
  readonly #timeoutMs: number;

  constructor(opts: ReadinessOptions = {}) {
    this.#timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  /** Adds or replaces the check called `name`. */
  register(name: string, check: ReadinessCheck): void {
    this.#checks.set(name, check);
  }

  unregister(name: string): void {
    this.#checks.delete(name);
  }

  names(): string[] {
    return [...this.#checks.keys()];
  }

  /** Runs every check concurrently; a throwing or hanging check fails with its reason. */
  async evaluate(): Promise<ReadinessReport> {
    const entries = [...this.#checks.entries()];
    const checks = await Promise.all(entries.map(([name, check]) => this.#run(name, check)));
    return { ready: checks.every((c) => c.ok), checks };
  }

  async #run(name: string, check: ReadinessCheck): Promise<ReadinessCheckOutcome> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<ReadinessResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ ok: false, detail: `check timed out after ${this.#timeoutMs} ms` }),
        this.#timeoutMs,
      );
    });
    try {
      const result = await Promise.race([Promise.resolve().then(check), timeout]);
      const outcome: ReadinessCheckOutcome = { name, ok: result.ok === true };
      if (result.detail !== undefined) outcome.detail = result.detail;
      return outcome;
    } catch (err) {
      return { name, ok: false, detail: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  }
}

export interface OpencodeHealthDeps {
  /** One health check; must settle within `timeoutMs` (the client's own deadline). */
  check(timeoutMs: number): Promise<boolean>;
  /** Deadline of one check; a check that takes longer counts as "not ok". */
  timeoutMs: number;
}

export interface OpencodeHealth {
  /** The last known answer; `false` until the first check or stream says otherwise. */
  current(): boolean;
  /** Starts a check unless one is running; resolves when that check is done (never rejects). */
  refresh(): Promise<boolean>;
  /** A fresher signal than a check (the SSE stream opened or failed). */
  set(ok: boolean): void;
}

/**
 * Whether opencode answers, as a cached value. Heartbeats read it and never wait on opencode: a
 * hung opencode must not delay the heartbeat, or the gateway would declare the whole node offline.
 */
export function createOpencodeHealth(deps: OpencodeHealthDeps): OpencodeHealth {
  let ok = false;
  let running: Promise<boolean> | undefined;
  return {
    current: () => ok,
    refresh() {
      if (running !== undefined) return running;
      const deadline = new Promise<boolean>((resolve) => {
        // The client has its own deadline; this one guards against a check that ignores it.
        setTimeout(() => resolve(false), deps.timeoutMs + 100).unref();
      });
      running = Promise.race([deps.check(deps.timeoutMs).catch(() => false), deadline]).then((up) => {
        ok = up;
        running = undefined;
        return up;
      });
      return running;
    },
    set(up) {
      ok = up;
    },
  };
}

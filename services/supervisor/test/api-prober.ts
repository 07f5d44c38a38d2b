// API commands probed on a fixed beat during a chaos test, and the longest time they kept failing
// after a fault: the "reconnect window" a user of the API sees.

export interface Probe {
  start: number;
  end: number;
  ok: boolean;
}

/**
 * The longest time API commands kept failing: from the first failed probe's start to the next
 * success. An outage begins inside [from, to]; the success that ends it may come after `to`
 * (a failure just before the next fault is closed by the first success after it).
 */
export function longestOutage(probes: readonly Probe[], from: number, to: number): number {
  let longest = 0;
  let since: number | undefined;
  for (const p of probes) {
    if (p.start < from) continue;
    if (!p.ok) {
      if (p.start <= to) since ??= p.start;
    } else if (since !== undefined) {
      longest = Math.max(longest, p.end - since);
      since = undefined;
    }
    if (p.start > to && since === undefined) break;
  }
  return since === undefined ? longest : Number.POSITIVE_INFINITY;
}

/** Runs `once` every `everyMs` (after the previous one ends) until `stop()`; every outcome recorded. */
export function startProber(once: () => Promise<boolean>, everyMs = 200) {
  const probes: Probe[] = [];
  let probing = true;
  const loop = (async () => {
    while (probing) {
      const start = Date.now();
      let ok = false;
      try {
        ok = await once();
      } catch {
        ok = false;
      }
      probes.push({ start, end: Date.now(), ok });
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    probes,
    /** True once a probe that started after `since` succeeded. */
    okSince: (since: number) => probes.some((p) => p.ok && p.start > since),
    async stop() {
      probing = false;
      await loop;
    },
  };
}

// Small measuring tools shared by bench modules: payloads, timers, percentiles.

/** A JSON text of exactly `bytes` bytes, shaped like an event record, for every raw figure. */
export function jsonPayload(bytes = 300): Uint8Array {
  const base = {
    version: 1,
    id: '2b1f9a52-7c61-4a8e-9d0b-6a1c0f3e4d5a',
    seq: 1,
    node: 'bench-node',
    project: 'bench',
    session: 'ses_bench',
    type: 'message.part',
    time: '2026-11-25T00:00:00.000Z',
    data: { text: '' },
  };
  const empty = JSON.stringify(base).length;
  base.data.text = 'x'.repeat(Math.max(0, bytes - empty));
  return new TextEncoder().encode(JSON.stringify(base));
}

/** Monotonic milliseconds with sub-millisecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The q-th percentile (0..100) of samples, nearest-rank. */
export function percentile(samples: number[], q: number): number {
  if (samples.length === 0) throw new Error('percentile of no samples');
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((q / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Events per second for `count` events over `ms` milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms <= 0 ? 0 : (count * 1000) / ms;
}

/** Runs `once` sequentially until `count` samples or `budgetMs` elapsed; returns latencies in ms. */
export async function sampleLatencies(
  once: () => Promise<void>,
  opts: { count: number; budgetMs: number; warmup?: number },
): Promise<number[]> {
  for (let i = 0; i < (opts.warmup ?? Math.min(100, opts.count)); i++) await once();
  const samples: number[] = [];
  const deadline = nowMs() + opts.budgetMs;
  while (samples.length < opts.count && nowMs() < deadline) {
    const start = nowMs();
    await once();
    samples.push(nowMs() - start);
  }
  return samples;
}

export interface WindowedResult {
  sent: number;
  elapsedMs: number;
}

/**
 * Calls `publish(i)` for up to `count` items within `budgetMs`, keeping at most `window`
 * unsettled; refills once half the window has settled. Waking on every single ack costs more
 * than the publish itself (measured: ~18k vs ~31k msg/s for JetStream). Throws the first failure.
 */
export async function runWindowed(
  publish: (i: number) => Promise<unknown>,
  opts: { count: number; budgetMs: number; window: number },
): Promise<WindowedResult> {
  let inflight = 0;
  let failure: unknown;
  let wake: (() => void) | undefined;
  const settled = (): void => {
    inflight--;
    if (wake !== undefined && inflight <= opts.window / 2) {
      const resume = wake;
      wake = undefined;
      resume();
    }
  };
  const drained = (): Promise<void> =>
    new Promise<void>((resolve) => {
      wake = resolve;
    });
  const start = nowMs();
  let sent = 0;
  for (; sent < opts.count && nowMs() - start < opts.budgetMs && failure === undefined; sent++) {
    if (inflight >= opts.window) await drained();
    inflight++;
    publish(sent).then(settled, (err: unknown) => {
      failure ??= err;
      settled();
    });
  }
  while (inflight > 0) await drained();
  if (failure !== undefined) throw failure;
  return { sent, elapsedMs: nowMs() - start };
}

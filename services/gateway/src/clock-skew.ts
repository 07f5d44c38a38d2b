import { MAX_SKEW_MS } from '@hal/protocol';

/** Samples the estimate is taken from: with 30 s heartbeats, the last four minutes or so. */
const SAMPLES_KEPT = 8;

/**
 * A node's clock skew (its clock minus the control plane's, ms), measured from the frames it
 * sends: each hello and heartbeat carries the host's clock in its envelope `timestamp`.
 *
 * One sample is `host timestamp − receive time` = skew − transit delay, and the delay is never
 * negative, so every sample underestimates the skew by its frame's delay. The estimate is the
 * largest of the recent samples: the frame that travelled fastest, which a slow network, a busy
 * event loop or a frame queued behind a large batch cannot pull down. Recent only, so a host
 * whose clock was corrected (NTP) is believed within a few heartbeats.
 */
export class ClockSkew {
  /**
   * A ring of the last samples, NaN where none yet: exactly {@link SAMPLES_KEPT} unboxed doubles
   * (a growing array took twice the room, on every connection).
   */
  readonly #samples = new Array<number>(SAMPLES_KEPT).fill(Number.NaN);
  #next = 0;

  /** One frame: its envelope timestamp (host clock, ISO) and when it arrived (control-plane ms). */
  sample(hostTime: string, receivedAt: number): void {
    const host = Date.parse(hostTime);
    if (Number.isNaN(host)) return;
    const offset = Math.max(-MAX_SKEW_MS, Math.min(MAX_SKEW_MS, Math.round(host - receivedAt)));
    this.#samples[this.#next] = offset;
    this.#next = (this.#next + 1) % SAMPLES_KEPT;
  }

  /** The estimate, ms; undefined before the first sample. */
  get ms(): number | undefined {
    let max: number | undefined;
    for (const s of this.#samples) if (!Number.isNaN(s) && (max === undefined || s > max)) max = s;
    return max;
  }
}

/**
 * Below this share of the threshold a node counts as back under. The band between it and the
 * threshold keeps a host whose skew hovers at the threshold (jitter moves the estimate by tens of
 * ms either way) from raising an alert on every other heartbeat.
 */
const REARM_SHARE = 0.8;

/**
 * Whether a skew estimate should raise `node.clock_skew` now: once when it crosses the
 * threshold, and again only after it came back well under (below {@link REARM_SHARE} of it) and
 * crossed anew. `alerted` is shared by the gateway's connections.
 */
export function skewAlertDue(
  alerted: Set<string>,
  node: string,
  skewMs: number,
  thresholdSec: number,
): boolean {
  const skew = Math.abs(skewMs);
  const thresholdMs = thresholdSec * 1000;
  if (skew <= thresholdMs * REARM_SHARE) {
    alerted.delete(node);
    return false;
  }
  if (skew <= thresholdMs || alerted.has(node)) return false;
  if (alerted.size > 10_000) alerted.clear();
  alerted.add(node);
  return true;
}

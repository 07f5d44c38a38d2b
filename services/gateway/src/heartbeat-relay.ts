import type { NatsConnection } from '@hal/bus';
import type { HeartbeatPayload } from '@hal/protocol';
import { ClockSkew } from './clock-skew.ts';
import { type HeartbeatContext, republishHeartbeat } from './heartbeats.ts';

/**
 * One connection's heartbeats: the liveness deadline by the injected clock (the gateway's tick
 * asks `overdue`), the clock skew measured from every frame's host time, and the copy of each
 * beat on `hal.hb.<node>`. Numbers only — no timer, closure or Date per connection (#13).
 */
export class HeartbeatRelay {
  readonly #skew = new ClockSkew();
  /** The last heartbeat (ms), -1 before any. */
  #lastMs = -1;
  /** The deadline counts from here: welcome, then each beat. */
  #sinceMs = 0;
  /** interval × count (ms); 0 when not watched (before welcome, once fired, after stop). */
  #timeoutMs = 0;

  /** The node's clock minus the control plane's (ms), once measured. */
  get skewMs(): number | undefined {
    return this.#skew.ms;
  }

  get lastHeartbeat(): Date | null {
    return this.#lastMs < 0 ? null : new Date(this.#lastMs);
  }

  /** Hello's frame: the first skew sample, before any event of the connection is stamped. */
  hello(sentAt: string, receivedAt: number): void {
    this.#skew.sample(sentAt, receivedAt);
  }

  /** After welcome: overdue once no beat arrived for `timeoutMs` by the clock. */
  watch(timeoutMs: number, now: number): void {
    this.#timeoutMs = timeoutMs;
    this.#sinceMs = now;
  }

  /**
   * One heartbeat frame: liveness and skew, then its copy for whoever taps `hal.hb.<node>` (a
   * failed copy throws; the beat still counted). Returns the skew estimate.
   */
  beat(
    nc: NatsConnection,
    ctx: HeartbeatContext,
    sentAt: string,
    payload: HeartbeatPayload,
    now: number,
  ): number | undefined {
    this.#lastMs = now;
    this.#sinceMs = now;
    this.#skew.sample(sentAt, now);
    republishHeartbeat(nc, ctx, payload, new Date(now), this.#skew.ms);
    return this.#skew.ms;
  }

  /** True once (then no longer watched) when the beats are overdue at `now`. */
  overdue(now: number): boolean {
    if (this.#timeoutMs === 0 || now - this.#sinceMs < this.#timeoutMs) return false;
    this.#timeoutMs = 0;
    return true;
  }

  stop(): void {
    this.#timeoutMs = 0;
  }
}

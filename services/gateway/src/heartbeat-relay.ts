import type { NatsConnection } from '@hal/bus';
import type { Clock, createRateLimitedLog } from '@hal/observability';
import type { HeartbeatPayload } from '@hal/protocol';
import { ClockSkew } from './clock-skew.ts';
import {
  type HeartbeatContext,
  type HeartbeatWatch,
  republishHeartbeat,
  watchHeartbeats,
} from './heartbeats.ts';

export interface HeartbeatRelayDeps {
  nc: NatsConnection;
  clock: Clock;
  /** The node's clock skew moved: announce it (node.clock_skew past the threshold). */
  onSkew: (skewMs: number, at: number) => void;
  /** The rate-limited log, asked for only when a republish fails. */
  warn: () => ReturnType<typeof createRateLimitedLog>;
}

/**
 * One connection's heartbeats: the liveness deadline (checked on the gateway's tick), the clock
 * skew measured from every frame's host time, and the copy of each beat on `hal.hb.<node>`.
 */
export class HeartbeatRelay {
  readonly #d: HeartbeatRelayDeps;
  readonly #skew = new ClockSkew();
  #last: Date | null = null;
  #watch: HeartbeatWatch | undefined;

  constructor(deps: HeartbeatRelayDeps) {
    this.#d = deps;
  }

  /** The node's clock minus the control plane's (ms), once measured. */
  get skewMs(): number | undefined {
    return this.#skew.ms;
  }

  get lastHeartbeat(): Date | null {
    return this.#last;
  }

  /** Hello's frame: the first skew sample, before any event of the connection is stamped. */
  hello(sentAt: string, receivedAt: number): void {
    this.#skew.sample(sentAt, receivedAt);
  }

  /** After welcome: `onTimeout` fires once when no beat arrives for interval × count. */
  watch(opts: { intervalSec: number; timeoutCount: number; onTimeout: () => void }): void {
    this.#watch = watchHeartbeats({ ...opts, clock: this.#d.clock });
  }

  /** One heartbeat frame: liveness, skew, and its copy for whoever taps `hal.hb.<node>`. */
  beat(ctx: HeartbeatContext, sentAt: string, payload: HeartbeatPayload): void {
    const now = new Date(this.#d.clock.now());
    this.#last = now;
    this.#watch?.beat();
    this.#skew.sample(sentAt, now.getTime());
    if (this.#skew.ms !== undefined) this.#d.onSkew(this.#skew.ms, now.getTime());
    try {
      republishHeartbeat(this.#d.nc, ctx, payload, now, this.#skew.ms);
    } catch (err) {
      // The beat still counts for liveness; only its copy on hal.hb.<node> is lost.
      this.#d.warn().warn('heartbeat', { err }, 'heartbeat not republished');
    }
  }

  /** The gateway's tick: ends the connection (onTimeout) when beats are overdue by the clock. */
  check(): void {
    this.#watch?.check();
  }

  stop(): void {
    this.#watch?.stop();
  }
}

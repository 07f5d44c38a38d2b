import type { NatsConnection } from '@hal/bus';
import type { Clock } from '@hal/observability';
import {
  type HeartbeatMessage,
  type HeartbeatPayload,
  heartbeatMessageSchema,
  subjects,
} from '@hal/protocol';

export interface HeartbeatContext {
  node: string;
  gateway: string;
  agentVersion: string;
  projects: Array<{ name: string; directory: string }>;
}

/** Republishes an agent heartbeat as core `hal.hb.<node>`, enriched with who relayed it. */
export function republishHeartbeat(
  nc: NatsConnection,
  ctx: HeartbeatContext,
  payload: HeartbeatPayload,
  now: Date,
  clockSkewMs?: number,
): void {
  const message: HeartbeatMessage = heartbeatMessageSchema.parse({
    ...payload,
    node: ctx.node,
    gateway: ctx.gateway,
    time: now.toISOString(),
    agent_version: ctx.agentVersion,
    projects: ctx.projects,
    ...(clockSkewMs === undefined ? {} : { clock_skew_ms: clockSkewMs }),
  });
  nc.publish(subjects.heartbeat(ctx.node), JSON.stringify(message));
}

export interface HeartbeatWatch {
  /** A heartbeat arrived: the deadline starts again. */
  beat(): void;
  /** Fires `onTimeout` (once) when the deadline has passed by the clock; the gateway's tick calls it. */
  check(): void;
  stop(): void;
}

/**
 * Fires `onTimeout` once when no beat arrives for `intervalSec × timeoutCount` by the injected
 * clock. It owns no timer: the gateway checks every connection on its tick, so a test moves a
 * FakeClock and calls tick() instead of waiting out a wall-clock window.
 */
export function watchHeartbeats(opts: {
  intervalSec: number;
  timeoutCount: number;
  clock: Clock;
  onTimeout: () => void;
}): HeartbeatWatch {
  const timeoutMs = opts.intervalSec * opts.timeoutCount * 1000;
  let last = opts.clock.now();
  let stopped = false;
  return {
    beat() {
      if (!stopped) last = opts.clock.now();
    },
    check() {
      if (stopped || opts.clock.now() - last < timeoutMs) return;
      stopped = true;
      opts.onTimeout();
    },
    stop() {
      stopped = true;
    },
  };
}

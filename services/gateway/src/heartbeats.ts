import type { NatsConnection } from '@hal/bus';
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
  stop(): void;
}

/**
 * Fires `onTimeout` once when no beat arrives for `intervalSec × timeoutCount`. One timer per
 * connection, re-armed on each beat; it does not keep the process alive.
 */
export function watchHeartbeats(opts: {
  intervalSec: number;
  timeoutCount: number;
  onTimeout: () => void;
}): HeartbeatWatch {
  const timeoutMs = opts.intervalSec * opts.timeoutCount * 1000;
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const arm = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (stopped) return;
      stopped = true;
      opts.onTimeout();
    }, timeoutMs);
    timer.unref();
  };
  arm();
  return {
    beat() {
      if (!stopped) arm();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

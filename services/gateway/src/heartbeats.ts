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

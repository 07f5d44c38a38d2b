import { ErrorCode, formatProtocolVersion, makeEnvelope, WsType } from '@hal/protocol';
import type { AgentConnection } from './agent-connection.ts';
import { badFrame, onFrame } from './frame-dispatch.ts';
import { type AgentFrame, errorFrame } from './frames.ts';
import {
  checkHello,
  type HelloRefusal,
  holderRefusal,
  warnMissingFeatures,
  welcomePayload,
} from './hello-admission.ts';
import type { NodeRegistry } from './node-registry.ts';

/**
 * hello → welcome: the checks (`hello-admission.ts`), then whether another live instance holds
 * the node id (asked of the gateway that claimed it), then the hold, the welcome, the heartbeat
 * deadline and node.online. Frames sent right behind hello wait for it, in order.
 */
export async function onHello(
  conn: AgentConnection,
  frame: Extract<AgentFrame, { type: 'hello' }>,
): Promise<void> {
  const receivedAt = conn.clock.now();
  if (conn.hello !== undefined || conn.helloPending) {
    badFrame(conn, {
      code: ErrorCode.BAD_FRAME,
      message: 'hello was already received on this connection',
      path: 'type',
      requestId: frame.requestId,
    });
    return;
  }
  const checked = checkHello(frame.payload, frame.requestId, conn.node);
  if ('refusal' in checked) {
    refuse(conn, checked.refusal);
    return;
  }
  const { negotiated } = checked;
  // Instance identity: another instance holding this node id live is refused, never replaced.
  conn.helloPending = true;
  let holder: Awaited<ReturnType<NodeRegistry['holderOf']>>;
  try {
    holder = await conn.shared.registry.holderOf(conn.node);
  } finally {
    conn.helloPending = false;
    // Right after the rest of this hello (no await below): welcome or refusal goes first, and no
    // socket read can run in between, so the frames keep their order.
    if (conn.early !== undefined) queueMicrotask(() => replayEarly(conn));
  }
  if (conn.isClosed()) return;
  const taken = holderRefusal(holder, frame.payload, frame.requestId, conn.node, conn.remoteAddress);
  if (taken !== undefined) {
    conn.announce.idConflict(taken.holder, taken.refused);
    refuse(conn, taken);
    return;
  }
  const { config } = conn.shared;
  const log = conn.log;
  warnMissingFeatures(log, negotiated, conn.enrolledProjects);
  conn.hello = frame.payload;
  conn.heartbeats.hello(frame.sentAt, receivedAt);
  conn.claimedAt = conn.clock.now();
  conn.shared.registry.hold(conn);
  conn.send(
    JSON.stringify(
      makeEnvelope(
        WsType.WELCOME,
        welcomePayload({
          node: conn.node,
          gateway: conn.gatewayId,
          heartbeatIntervalSec: config.heartbeat_interval_sec,
          heartbeatTimeoutCount: config.heartbeat_timeout_count,
          negotiated,
          projects: conn.enrolledProjects,
        }),
        frame.requestId,
      ),
    ),
  );
  conn.heartbeats.watch(
    config.heartbeat_interval_sec * config.heartbeat_timeout_count * 1000,
    conn.clock.now(),
  );
  log.info(
    {
      agent_version: frame.payload.agent_version,
      protocol: formatProtocolVersion(negotiated.version),
      credential: conn.credential.kind,
    },
    'node online',
  );
  conn.announce.online({ agent_version: frame.payload.agent_version, projects: conn.projects() });
}

/** Turns the agent away before it holds the node: the error frame says why, the close code how to retry. */
export function refuse(conn: AgentConnection, { problem, closeCode, reason }: HelloRefusal): void {
  conn.log.warn({ code: problem.code, remote: conn.remoteAddress }, problem.message);
  conn.send(errorFrame(problem));
  conn.ws.close(closeCode, reason);
}

function replayEarly(conn: AgentConnection): void {
  const early = conn.early ?? [];
  conn.early = undefined;
  for (const [data, isBinary] of early) onFrame(conn, data, isBinary);
}

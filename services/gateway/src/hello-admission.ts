import type { Logger } from '@hal/observability';
import {
  WsCloseCode as CloseCode,
  ErrorCode,
  formatProtocolVersion,
  negotiateProtocol,
  WIRE_PROTOCOL,
  WS_LIMITS,
  type WsPayload,
} from '@hal/protocol';
import type { FrameProblem } from './frames.ts';
import type { NodeRegistry } from './node-registry.ts';

/** A hello turned away: the error frame says why, the close code how to retry. */
export interface HelloRefusal {
  problem: FrameProblem;
  closeCode: number;
  reason: string;
}

type Negotiated = Extract<ReturnType<typeof negotiateProtocol>, { ok: true }>;

/**
 * The checks of a hello that need nothing but the frame: it names the node the upgrade
 * authenticated, and speaks a protocol this gateway accepts.
 */
export function checkHello(
  payload: WsPayload<'hello'>,
  requestId: string,
  node: string,
): { refusal: HelloRefusal } | { negotiated: Negotiated } {
  if (payload.node !== node) {
    return {
      refusal: {
        problem: {
          code: ErrorCode.UNAUTHORIZED,
          message: `hello names node "${payload.node}" but this connection authenticated as "${node}"`,
          path: 'payload.node',
          requestId,
        },
        closeCode: CloseCode.POLICY_VIOLATION,
        reason: 'node mismatch',
      },
    };
  }
  const negotiated = negotiateProtocol(payload.protocol);
  if (!negotiated.ok) {
    return {
      refusal: {
        problem: {
          code: ErrorCode.UNSUPPORTED_VERSION,
          message: negotiated.message,
          path: 'payload.protocol',
          requestId,
        },
        closeCode: CloseCode.UNSUPPORTED_VERSION,
        reason: 'unsupported protocol version',
      },
    };
  }
  return { negotiated };
}

type Holder = NonNullable<Awaited<ReturnType<NodeRegistry['holderOf']>>>;
type Instance = { host: string | null; remote_address: string | null; instance_id: string | null };

/**
 * Instance identity: another agent instance holding this node id live is refused, never
 * replaced (two hosts share an id: cloned VMs, containers). The refusal, and who holds it.
 */
export function holderRefusal(
  holder: Holder | undefined,
  payload: WsPayload<'hello'>,
  requestId: string,
  node: string,
  remoteAddress: string | null,
): (HelloRefusal & { holder: Holder; refused: Instance & { instance_id: string } }) | undefined {
  const mine = payload.instance_id;
  if (
    holder === undefined ||
    holder.instance_id === null ||
    mine === undefined ||
    holder.instance_id === mine
  )
    return undefined;
  const where = (h: Instance) =>
    `instance ${h.instance_id ?? '?'} on host ${h.host ?? '?'} (${h.remote_address ?? 'unknown address'})`;
  const refused = { host: payload.host ?? null, remote_address: remoteAddress, instance_id: mine };
  const message = `node id "${node}" is in use by another agent: held by ${where(holder)} via gateway ${holder.gateway}; refused ${where(refused)}. Give each host its own node_id (cloned VMs and containers share a host name)`;
  return {
    problem: { code: ErrorCode.NODE_ID_IN_USE, message, path: 'payload.instance_id', requestId },
    closeCode: CloseCode.NODE_ID_IN_USE,
    reason: 'node id in use',
    holder,
    refused,
  };
}

/** Says, once per connection, what an agent of an older protocol minor lacks. */
export function warnMissingFeatures(
  log: Logger,
  negotiated: Negotiated,
  projects: Array<{ name: string; directory: string }> | undefined,
): void {
  if (negotiated.missing.length === 0) return;
  log.warn(
    {
      agent_protocol: formatProtocolVersion(negotiated.version),
      gateway_protocol: formatProtocolVersion(WIRE_PROTOCOL),
      missing_features: negotiated.missing.map((m) => m.feature),
      ...(projects === undefined ? {} : { projects }),
    },
    `agent speaks an older protocol and lacks: ${negotiated.missing.map((m) => `${m.feature} (${m.description})`).join('; ')}; upgrade it`,
  );
}

/** The welcome: what the agent must know of this gateway (limits, heartbeats, protocol). */
export function welcomePayload(args: {
  node: string;
  gateway: string;
  heartbeatIntervalSec: number;
  heartbeatTimeoutCount: number;
  negotiated: Negotiated;
  projects: Array<{ name: string; directory: string }> | undefined;
}): WsPayload<'welcome'> {
  return {
    node: args.node,
    gateway: args.gateway,
    heartbeat_interval_sec: args.heartbeatIntervalSec,
    heartbeat_timeout_count: args.heartbeatTimeoutCount,
    max_batch: WS_LIMITS.maxBatch,
    max_frame_bytes: WS_LIMITS.maxFrameBytes,
    protocol: formatProtocolVersion(args.negotiated.version),
    gateway_protocol: formatProtocolVersion(WIRE_PROTOCOL),
    missing_features: args.negotiated.missing.map((m) => m.feature),
    ...(args.projects === undefined ? {} : { projects: args.projects }),
  };
}

import { z } from 'zod';
import { actorSchema, commandSchema, errorBodySchema, idempotencyKeySchema } from './commands.ts';
import { boundedJson, idSchema, sessionSnapshotSchema } from './events.ts';
import { LIMITS } from './limits.ts';
import { WIRE_PROTOCOL } from './wire-protocol.ts';

/** Limits of the agent ↔ gateway protocol, shared by both ends. */
export const WS_LIMITS = {
  /** Largest frame an agent may send (the agent keeps its batches under it). */
  maxFrameBytes: 1024 * 1024,
  /**
   * Largest frame the gateway still reads. Between maxFrameBytes and this, an `events` frame is
   * read and each event judged on its own (one too large is refused with its seq, so the agent
   * drops it instead of resending it for ever); beyond it the socket is closed with 1009.
   */
  hardFrameBytes: 4 * 1024 * 1024,
  /** Most events in one `events` frame. */
  maxBatch: 500,
} as const;

/** Close codes of the protocol; the 40xx ones tell the agent why it was turned away. */
export const WsCloseCode = {
  GOING_AWAY: 1001,
  POLICY_VIOLATION: 1008,
  /** The same agent connected again (here or on another gateway): this older socket is closed. */
  REPLACED: 4001,
  HEARTBEAT_TIMEOUT: 4002,
  /** Refused at hello: the agent's protocol version is not accepted. Retrying soon will not help. */
  UNSUPPORTED_VERSION: 4003,
  /** Another agent instance holds this node id: the node id is in use on another host. */
  NODE_ID_IN_USE: 4004,
  /** The node's credential was revoked or replaced (halctl nodes revoke / enroll --rotate). */
  CREDENTIAL_REVOKED: 4005,
} as const;
export type WsCloseCode = (typeof WsCloseCode)[keyof typeof WsCloseCode];

export const WsType = {
  HELLO: 'hello',
  EVENTS: 'events',
  HEARTBEAT: 'heartbeat',
  SNAPSHOT: 'snapshot',
  COMMAND_RESULT: 'command.result',
  WELCOME: 'welcome',
  ACK: 'ack',
  COMMAND: 'command',
  ERROR: 'error',
} as const;
export type WsType = (typeof WsType)[keyof typeof WsType];

/** The outer shape of every frame, checked before the payload. */
export const envelopeSchema = z.object({
  /** The wire protocol's major version (`WIRE_PROTOCOL.major`); the minor is negotiated in hello/welcome. */
  version: z.number().int(),
  type: z.string().min(1).max(64),
  request_id: z.string().min(1).max(128),
  timestamp: z.iso.datetime({ offset: true }),
  payload: z.unknown(),
});
export type Envelope = z.infer<typeof envelopeSchema>;

const projectSchema = z.object({
  name: idSchema,
  directory: z.string().min(1).max(4096),
});

/** `<major>.<minor>` of the wire protocol, like "1.1". */
const protocolVersionSchema = z.string().regex(/^\d{1,4}\.\d{1,4}$/, 'must be "<major>.<minor>", like "1.1"');

export const helloPayloadSchema = z.object({
  node: idSchema,
  agent_version: z.string().min(1).max(64),
  /** The wire protocol the agent speaks; absent from agents older than the version split (1.0). */
  protocol: protocolVersionSchema.optional(),
  /** Persistent id of this agent installation (its data dir), from protocol 1.2. */
  instance_id: z.string().min(1).max(128).optional(),
  /** The agent's host name, to name both hosts when two claim one node id (from 1.2). */
  host: z.string().max(256).optional(),
  projects: z.array(projectSchema).max(LIMITS.projectsPerNode),
  /** Highest seq the agent saw acked, so the gateway can tell a resend from a gap. */
  last_acked_seq: z.number().int().nonnegative(),
});

export const eventsPayloadSchema = z.object({
  /** Validated one by one by the gateway, so one bad event never sinks its neighbours. */
  events: z.array(z.unknown()).min(1).max(WS_LIMITS.maxBatch),
});

export const heartbeatPayloadSchema = z.object({
  load: z.array(z.number()).max(3),
  mem_total_bytes: z.number().nonnegative(),
  mem_free_bytes: z.number().nonnegative(),
  disk_total_bytes: z.number().nonnegative().optional(),
  disk_free_bytes: z.number().nonnegative().optional(),
  cpus: z.number().int().nonnegative().optional(),
  opencode_ok: z.boolean(),
  sessions: z.number().int().nonnegative(),
  spool_depth: z.number().int().nonnegative(),
  uptime_sec: z.number().nonnegative().optional(),
});
export type HeartbeatPayload = z.infer<typeof heartbeatPayloadSchema>;

export const snapshotPayloadSchema = z.object({
  sessions: z.array(sessionSnapshotSchema).max(LIMITS.snapshotSessions),
});

export const commandResultPayloadSchema = z.discriminatedUnion('ok', [
  z.object({ command_id: z.string().min(1).max(128), ok: z.literal(true), data: boundedJson(z.unknown()) }),
  z.object({
    command_id: z.string().min(1).max(128),
    ok: z.literal(false),
    error: errorBodySchema.extend({
      message: z.string().max(4096),
      details: boundedJson(z.unknown()).optional(),
    }),
  }),
]);

export const welcomePayloadSchema = z.object({
  node: z.string(),
  gateway: z.string(),
  heartbeat_interval_sec: z.number().positive(),
  heartbeat_timeout_count: z.number().int().positive(),
  max_batch: z.number().int().positive(),
  max_frame_bytes: z.number().int().positive(),
  /** The version both sides speak on this connection (the lower of the two); absent from 1.0 gateways. */
  protocol: protocolVersionSchema.optional(),
  /** The gateway's own version. */
  gateway_protocol: protocolVersionSchema.optional(),
  /**
   * For an enrolled node: the projects the control plane routes to it (its enrollment record).
   * Absent in shared-token mode, where hello's projects are used.
   */
  projects: z.array(projectSchema).max(1000).optional(),
  /** Features of the gateway's version this agent lacks (it is one minor behind): upgrade it. */
  missing_features: z.array(z.string().max(64)).max(64).optional(),
});

export const ackPayloadSchema = z.object({
  /** Every event with seq ≤ this is durable in JetStream and may leave the spool. */
  seq: z.number().int().nonnegative(),
});

export const commandPayloadSchema = z.object({
  command_id: z.string().min(1),
  command: commandSchema,
  actor: actorSchema,
  timeout_ms: z.number().int().positive(),
  /** The agent runs a mutating command once per key (absent from gateways before it existed). */
  idempotency_key: idempotencyKeySchema.optional(),
});

export const errorPayloadSchema = z.object({
  code: errorBodySchema.shape.code,
  message: z.string(),
  /** Where in the frame the problem is, like `payload.events[3].type`. */
  path: z.string().optional(),
  /** Seqs of the events that were rejected, so the agent can drop them from its spool. */
  rejected_seqs: z.array(z.number().int().nonnegative()).optional(),
});

/** Payload schema per frame type; a type missing here is answered with UNKNOWN_COMMAND/BAD_FRAME. */
export const wsPayloadSchemas = {
  hello: helloPayloadSchema,
  events: eventsPayloadSchema,
  heartbeat: heartbeatPayloadSchema,
  snapshot: snapshotPayloadSchema,
  'command.result': commandResultPayloadSchema,
  welcome: welcomePayloadSchema,
  ack: ackPayloadSchema,
  command: commandPayloadSchema,
  error: errorPayloadSchema,
} as const;

export type WsPayload<T extends WsType> = z.infer<(typeof wsPayloadSchemas)[T]>;

/** Builds a frame; the caller gives the payload of its type, the rest is filled in. */
export function makeEnvelope<T extends WsType>(type: T, payload: WsPayload<T>, requestId?: string): Envelope {
  return {
    version: WIRE_PROTOCOL.major,
    type,
    request_id: requestId ?? crypto.randomUUID(),
    timestamp: new Date().toISOString(),
    payload,
  };
}

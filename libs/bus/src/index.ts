// The public surface of @hal/bus: connecting, streams, typed request/reply and publishing.

export type { JetStreamClient, JsMsg, PubAck } from '@nats-io/jetstream';
export type { KV } from '@nats-io/kv';
export type { NatsConnection, Subscription } from '@nats-io/nats-core';
export {
  type BusAuth,
  connectBus,
  isPermissionViolation,
  natsReadinessCheck,
} from './connect.ts';
export { type EnvManifestStore, openEnvManifestStore } from './env-manifest-store.ts';
export { jetstreamClient, publishAudit, publishEvent } from './events.ts';
export { claimOwnConsumer, type InstanceClaim } from './instance-claim.ts';
export { INSTANCE_ID_FILE, resolveInstanceId } from './instance-id.ts';
export { openKv } from './kv.ts';
export {
  createLeaderRole,
  type LeaderRole,
} from './leader-role.ts';
export { createLease, type LeaseBucket, openLeaseBucket } from './lease.ts';
export {
  isPermanentPublishError,
  PermanentJetStreamCodes,
  TransientJetStreamCodes,
} from './publish-errors.ts';
export {
  request,
  type Server,
  serve,
  toBusError,
} from './request-reply.ts';
export { openSessionOwners, type SessionOwners } from './session-owners.ts';
export {
  ensureStreams,
  type StreamLimits,
  streamsReadinessCheck,
} from './streams.ts';
export { isTransientNatsError } from './transient.ts';

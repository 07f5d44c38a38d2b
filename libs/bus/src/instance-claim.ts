import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { resolveInstanceId } from './instance-id.ts';
import { createLease, openLeaseBucket } from './lease.ts';

/** The services whose instances each own a durable consumer named from their instance id. */
export type ClaimingRole = 'tracker' | 'cost-poller';

/** The lease key that stands for one instance id of a role (`LEASES_KV_BUCKET`). */
export function instanceClaimKey(role: ClaimingRole, instanceId: string): string {
  return `instance.${role}.${instanceId}`;
}

/** The durable consumer each role's instance owns: `<prefix>-<instance id>`. */
const CONSUMER_PREFIX: Record<ClaimingRole, string> = { tracker: 'hal-tracker', 'cost-poller': 'hal-cost' };
const DEFAULT_LEASE_TTL_SEC = 5;

/**
 * This instance's own durable consumer name, claimed: resolves the instance id (config
 * `instance_id`, else kept in data_dir) and claims it before anything consumes with it.
 */
export async function claimOwnConsumer(opts: {
  nc: NatsConnection;
  role: ClaimingRole;
  config: {
    data_dir: string;
    instance_id?: string | undefined;
    instances?: { lease_ttl_sec?: number | undefined };
    nats?: { replicas: number };
  };
  log: Logger;
}): Promise<{ durableName: string; claim: InstanceClaim }> {
  const instanceId = resolveInstanceId({
    configured: opts.config.instance_id,
    dataDir: opts.config.data_dir,
  });
  const claim = await claimInstance({
    nc: opts.nc,
    role: opts.role,
    instanceId,
    ttlMs: (opts.config.instances?.lease_ttl_sec ?? DEFAULT_LEASE_TTL_SEC) * 1000,
    replicas: opts.config.nats?.replicas,
    log: opts.log,
  });
  return { durableName: `${CONSUMER_PREFIX[opts.role]}-${instanceId}`, claim };
}

export interface InstanceClaim {
  /** False once the claim was lost (NATS unreachable past the TTL, or taken); retried meanwhile. */
  isHeld(): boolean;
  /** Gives the claim up, so a restarted process with this id takes it at once. */
  release(): Promise<void>;
}

export class InstanceIdInUseError extends Error {
  readonly code = 'INSTANCE_ID_IN_USE';
  constructor(role: ClaimingRole, instanceId: string, holder: string | undefined) {
    super(
      `${role} instance_id "${instanceId}" is in use by ${holder ?? 'another process'}: two processes ` +
        `with one id would share one durable consumer and each project only part of the events. ` +
        `Give each instance its own instance_id (or its own data_dir).`,
    );
  }
}

/**
 * Claims `instance_id` for this process before it consumes with the durable consumer named from it.
 * Two processes with one id (a copied data_dir, a pasted config) would otherwise split the
 * consumer's events between them, and each projection would silently miss half. A lease in the
 * lease bucket, renewed while the process runs: a process killed without releasing it frees the
 * id when the server's TTL ends, so a restart waits at most about one TTL before it is refused.
 */
async function claimInstance(opts: {
  nc: NatsConnection;
  role: ClaimingRole;
  instanceId: string;
  ttlMs: number;
  replicas?: number | undefined;
  log: Logger;
  /** How long a start waits for a claim left by a killed process to expire. Default 2 TTLs. */
  waitMs?: number;
}): Promise<InstanceClaim> {
  const bucket = await openLeaseBucket(opts.nc, { ttlMs: opts.ttlMs, replicas: opts.replicas });
  const log = opts.log.child({ component: 'instance-claim', instance_id: opts.instanceId });
  let acquired!: () => void;
  const taken = new Promise<void>((resolve) => {
    acquired = resolve;
  });
  const lease = createLease({
    bucket,
    key: instanceClaimKey(opts.role, opts.instanceId),
    holder: `${hostname()}:${process.pid}`,
    log: opts.log,
    // Every few hundred ms while waiting: a predecessor's claim ends at its TTL, not at our retry.
    retryEveryMs: Math.max(50, Math.floor(bucket.ttlMs / 10)),
    onAcquired: () => acquired(),
    onLost: (reason) =>
      log.error(
        { reason },
        'instance claim lost: if another process took this instance_id, both share one consumer and each misses events',
      ),
  });
  await lease.start();
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    taken,
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, opts.waitMs ?? 2 * bucket.ttlMs);
    }),
  ]);
  clearTimeout(timer);
  if (!lease.isHeld()) {
    const holder = await lease.holder().catch(() => undefined);
    await lease.stop();
    throw new InstanceIdInUseError(opts.role, opts.instanceId, holder);
  }
  return { isHeld: () => lease.isHeld(), release: () => lease.stop() };
}

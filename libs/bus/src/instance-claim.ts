import { hostname } from 'node:os';
import type { NatsConnection } from '@nats-io/nats-core';
import type { Logger } from 'pino';
import { createLease, openLeaseBucket } from './lease.ts';

/** The services whose instances each own a durable consumer named from their instance id. */
export type ClaimingRole = 'tracker' | 'cost-poller';

/** The lease key that stands for one instance id of a role (`LEASES_KV_BUCKET`). */
export function instanceClaimKey(role: ClaimingRole, instanceId: string): string {
  return `instance.${role}.${instanceId}`;
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
export async function claimInstance(opts: {
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

import { type KV, Kvm, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { raiseReplicas } from './streams.ts';
import { retryTransient } from './transient.ts';

/**
 * Opens a KV bucket, creating it when missing (idempotent: every instance of every service may
 * call it at start). Options apply only to a bucket this call creates — except `replicas`
 * (`nats.replicas`): an existing bucket with fewer is raised to it, and one with more is never
 * lowered (see raiseReplicas). Every HAL bucket opens through here, so the setting reaches them all.
 */
export async function openKv(nc: NatsConnection, bucket: string, opts: Partial<KvOptions> = {}): Promise<KV> {
  // Idempotent, so a create lost in a cluster's race (no answer) is simply made again.
  const kv = await retryTransient(() => new Kvm(nc).create(bucket, opts));
  const { replicas } = opts;
  if (replicas !== undefined) await retryTransient(() => raiseReplicas(nc, `KV_${bucket}`, replicas));
  return kv;
}

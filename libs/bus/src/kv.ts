import { type KV, Kvm, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { raiseReplicas } from './streams.ts';

/**
 * Opens a KV bucket, creating it when missing (idempotent: every instance of every service may
 * call it at start). Options apply only to a bucket this call creates — except `replicas`
 * (`nats.replicas`): an existing bucket with fewer is raised to it, and one with more is never
 * lowered (see raiseReplicas). Every HAL bucket opens through here, so the setting reaches them all.
 */
export async function openKv(nc: NatsConnection, bucket: string, opts: Partial<KvOptions> = {}): Promise<KV> {
  const kv = await new Kvm(nc).create(bucket, opts);
  if (opts.replicas !== undefined) await raiseReplicas(nc, `KV_${bucket}`, opts.replicas);
  return kv;
}

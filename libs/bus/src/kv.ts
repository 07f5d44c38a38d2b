import { type KV, Kvm, type KvOptions } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';

/**
 * Opens a KV bucket, creating it when missing (idempotent: every instance of every service may
 * call it at start). Options apply only to a bucket this call creates.
 */
export function openKv(nc: NatsConnection, bucket: string, opts: Partial<KvOptions> = {}): Promise<KV> {
  return new Kvm(nc).create(bucket, opts);
}

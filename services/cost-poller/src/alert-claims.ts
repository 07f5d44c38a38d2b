import { type KV, type NatsConnection, openKv } from '@hal/bus';
import { COST_ALERTS_KV_BUCKET } from '@hal/protocol';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';

/** Longer than the longest budget period (a month) plus the day a late evaluation may take. */
const CLAIM_TTL_MS = 35 * 86_400_000;

/** Which budget alerts were published: one claim per alert id, whichever instance published it. */
export interface AlertClaims {
  /** True when this call claimed the alert (so the caller publishes it); false when it already was. */
  claim(id: string, record: Record<string, unknown>): Promise<boolean>;
  /** Undoes a claim whose publish failed, so the next evaluation tries again. */
  release(id: string): Promise<void>;
}

/**
 * Budget alert claims in KV `HAL_COST_ALERTS` (create-if-absent): shared by every cost-poller
 * instance, so the instance that leads after a failover never publishes an alert the previous
 * leader already did — even past JetStream's duplicate window.
 */
export async function openAlertClaims(nc: NatsConnection, replicas?: number): Promise<AlertClaims> {
  const kv: KV = await openKv(nc, COST_ALERTS_KV_BUCKET, {
    history: 1,
    ttl: CLAIM_TTL_MS,
    ...(replicas === undefined ? {} : { replicas }),
  });
  return {
    async claim(id, record) {
      try {
        await kv.create(id, JSON.stringify(record));
        return true;
      } catch (err) {
        if (
          err instanceof JetStreamApiError &&
          (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
            err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
        )
          return false;
        throw err;
      }
    },
    async release(id) {
      await kv.delete(id);
    },
  };
}

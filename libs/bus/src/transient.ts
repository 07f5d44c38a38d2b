import { ErrorCode, HalError } from '@hal/protocol';
import { JetStreamApiError } from '@nats-io/jetstream';
import { NoRespondersError, RequestError, TimeoutError } from '@nats-io/nats-core';
import { TransientJetStreamCodes } from './publish-errors.ts';

/** The API errors a JetStream cluster gives while it elects leaders or places replicas. */
const CLUSTER_SETTLING = new Set<number>([
  TransientJetStreamCodes.TEMPORARILY_UNAVAILABLE,
  TransientJetStreamCodes.NOT_LEADER,
  TransientJetStreamCodes.INSUFFICIENT_RESOURCES,
  TransientJetStreamCodes.STREAM_OFFLINE,
  TransientJetStreamCodes.STREAM_OFFLINE_REASON,
  TransientJetStreamCodes.TOO_MANY_REQUESTS,
]);

/**
 * True when a JetStream or request/reply call (creating a stream, a consumer, a KV bucket at a
 * service's start) failed for a reason that passes on its own: no answer in time, nothing
 * answering yet, a cluster electing its meta leader or busy placing replicas (any 5xx). A wrong
 * config, a refused permission or a conflict is not: trying again gives the same answer.
 */
export function isTransientNatsError(err: unknown): boolean {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof TimeoutError || e instanceof NoRespondersError) return true;
    if (e instanceof RequestError && e.isNoResponders()) return true;
    if (e instanceof JetStreamApiError) return CLUSTER_SETTLING.has(e.code) || e.status >= 500;
    if (e instanceof HalError && (e.code === ErrorCode.TIMEOUT || e.code === ErrorCode.NO_RESPONDERS))
      return true;
  }
  return false;
}

/**
 * Runs an idempotent JetStream call (creating a stream, a KV bucket, a consumer) up to `tries`
 * times while it fails for a passing reason. Measured on a 3-node nats-server 2.9 cluster: eight
 * clients creating one replicated KV bucket at once got no answer at all on about one call in
 * five (a 5 s TimeoutError), and the same call made again at once succeeded in ≤ 30 ms — the
 * server had created the bucket and dropped the duplicate request.
 */
export async function retryTransient<T>(fn: () => Promise<T>, tries = 3): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= tries || !isTransientNatsError(err)) throw err;
    }
  }
}

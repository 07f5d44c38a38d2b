import { JetStreamApiError } from '@nats-io/jetstream';

/**
 * JetStream API error codes (nats-server `server/errors.json`) that say the message itself can
 * never be stored: the same bytes will be refused again, so retrying only blocks the sender.
 */
export const PermanentJetStreamCodes = {
  /** JSStreamMessageExceedsMaximumErr: larger than the stream's max_msg_size. */
  MESSAGE_EXCEEDS_MAXIMUM: 10054,
  /** JSStreamHeaderExceedsMaximumErr. */
  HEADER_EXCEEDS_MAXIMUM: 10097,
  /** JSStreamNotMatchErr: an expected-stream header we never send. */
  EXPECTED_STREAM_MISMATCH: 10060,
  /** JSStreamSealedErr: a sealed stream takes nothing any more. */
  STREAM_SEALED: 10109,
  /** JSMessageTTLInvalidErr and JSMessageTTLDisabledErr: a header we never send, refused for good. */
  MESSAGE_TTL_INVALID: 10165,
  MESSAGE_TTL_DISABLED: 10166,
} as const;

/**
 * Codes that are transient even though their status is 4xx: a retry of the same message can
 * succeed once the server has room or the previous attempt settled.
 */
export const TransientJetStreamCodes = {
  /** JSClusterNotAvailErr: "JetStream system temporarily unavailable" (503). */
  TEMPORARILY_UNAVAILABLE: 10008,
  /** JSClusterNotLeaderErr: during a leader election (500). */
  NOT_LEADER: 10009,
  /** JSInsufficientResourcesErr: "insufficient resources" (503). */
  INSUFFICIENT_RESOURCES: 10023,
  /** JSAccountResourcesExceededErr (400): the account's storage is full until old data ages out. */
  ACCOUNT_RESOURCES_EXCEEDED: 10002,
  /** JSMemoryResourcesExceededErr and JSStorageResourcesExceededErr: room comes back as data ages out. */
  MEMORY_RESOURCES_EXCEEDED: 10028,
  STORAGE_RESOURCES_EXCEEDED: 10047,
  /** JSStreamNotFoundErr (404): a stream being re-created (ensureStreams runs at every start). */
  STREAM_NOT_FOUND: 10059,
  /** JSStreamStoreFailedF (503): the store failed this write (disk full, I/O error). */
  STORE_FAILED: 10077,
  /** JSStreamOfflineErr and JSStreamOfflineReasonErrF (500). */
  STREAM_OFFLINE: 10118,
  STREAM_OFFLINE_REASON: 10194,
  /** JSStreamDuplicateMessageConflict (409): an earlier copy with the same id is still in process. */
  DUPLICATE_IN_PROCESS: 10158,
  /** JSStreamTooManyRequests (429). */
  TOO_MANY_REQUESTS: 10167,
} as const;

const PERMANENT = new Set<number>(Object.values(PermanentJetStreamCodes));
const TRANSIENT = new Set<number>(Object.values(TransientJetStreamCodes));
/** Client-side refusals of the message itself (max_payload exceeded, a subject it will not send). */
const PERMANENT_CLIENT_ERRORS = new Set(['InvalidArgumentError', 'InvalidSubjectError']);

/**
 * True when a JetStream publish failed for a reason that retrying the same message cannot fix.
 * Everything else — timeouts, no responders, a closed or reconnecting connection, leader
 * elections, "temporarily unavailable", "insufficient resources" — is transient: the caller
 * retries with the same `Nats-Msg-Id`, and JetStream keeps one copy. An API error with an
 * unknown code is judged by its HTTP-like status: 5xx is the server's trouble (transient), 4xx
 * is the message's (permanent).
 */
export function isPermanentPublishError(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    if (PERMANENT.has(err.code)) return true;
    if (TRANSIENT.has(err.code)) return false;
    // 408 and 429 say "later", not "never".
    return err.status >= 400 && err.status < 500 && err.status !== 408 && err.status !== 429;
  }
  return err instanceof Error && PERMANENT_CLIENT_ERRORS.has(err.name);
}

import type { KV } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { ENROLLMENT_KEYS, type EnrollmentRecord, EnrollmentStatus, enrollmentKey } from '@hal/protocol';
import { recordOf } from './enrollment-store.ts';
import type { AgentCredential, EnrollmentLookup } from './ws-auth.ts';

export interface EnrollmentWatch extends EnrollmentLookup {
  /** Loads every record and follows changes; resolves once the copy is complete. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Called for every change after start (a new record, a rotation, a revoke). */
  onChange(listener: (node: string, record: EnrollmentRecord | undefined) => void): void;
  /**
   * Reads one node's record from the bucket now, for an upgrade the copy decided: an agent
   * enrolled through another gateway's API a moment ago must not see 401 because this copy's
   * watch is a few milliseconds behind, and a token revoked or rotated a moment ago must not
   * open a socket. One read per node at a time; with `capped` (a refusal: anyone can send a bad
   * token) a bounded number overall, so a flood costs the bucket little, and beyond it the copy
   * answers. A failed read leaves the copy.
   */
  refresh(node: string, opts?: { capped?: boolean }): Promise<void>;
}

/** Capped refreshes (refusals) in flight at once, across nodes; a refusal beyond it is answered from the copy. */
const MAX_REFRESHES = 16;

/**
 * Every gateway's copy of HAL_NODES. The upgrade check reads it synchronously, and a change
 * (revoke, rotation) reaches every gateway through the watch within milliseconds.
 *
 * The watch starts first (updates only), then the keys are listed and read: a change that lands
 * between the two arrives through the watch, and revisions decide which copy is newer.
 */
export function createEnrollmentWatch(deps: { kv: () => Promise<KV>; log: Logger }): EnrollmentWatch {
  const log = deps.log.child({ component: 'enrollment-watch' });
  const records = new Map<string, { record: EnrollmentRecord | undefined; revision: number }>();
  const byToken = new Map<string, string>();
  const listeners: Array<(node: string, record: EnrollmentRecord | undefined) => void> = [];
  let iter: Awaited<ReturnType<KV['watch']>> | undefined;
  let started = false;
  const refreshing = new Map<string, Promise<void>>();

  const apply = (node: string, record: EnrollmentRecord | undefined, revision: number): boolean => {
    const previous = records.get(node);
    if (previous !== undefined && previous.revision >= revision) return false;
    const oldHash = previous?.record?.token_sha256;
    if (oldHash != null && byToken.get(oldHash) === node) byToken.delete(oldHash);
    records.set(node, { record, revision });
    if (record?.status === EnrollmentStatus.ACTIVE && record.token_sha256 !== null)
      byToken.set(record.token_sha256, node);
    return true;
  };

  const nodeOfKey = (key: string): string =>
    Buffer.from(key.slice(key.indexOf('.') + 1), 'base64url').toString('utf8');

  const onEntry = (entry: NonNullable<Awaited<ReturnType<KV['get']>>>): void => {
    const record = recordOf(entry);
    // A record's own node wins over its key; a deleted key only has the key.
    const node = record?.node ?? nodeOfKey(entry.key);
    if (entry.operation === 'PUT' && record === undefined) {
      log.warn({ key: entry.key }, 'unreadable enrollment record ignored');
      return;
    }
    if (!apply(node, record, entry.revision) || !started) return;
    log.info({ node, status: record?.status ?? 'deleted' }, 'enrollment changed');
    for (const l of listeners) {
      try {
        l(node, record);
      } catch (err) {
        log.error({ err, node }, 'enrollment listener failed');
      }
    }
  };

  return {
    get: (node) => records.get(node)?.record,
    nodeOfToken: (hash) => byToken.get(hash),
    onChange(listener) {
      listeners.push(listener);
    },
    refresh(node, { capped = true } = {}) {
      const inFlight = refreshing.get(node);
      if (inFlight !== undefined) return inFlight;
      if (capped && refreshing.size >= MAX_REFRESHES) return Promise.resolve();
      const read = (async () => {
        const kv = await deps.kv();
        const entry = await kv.get(enrollmentKey(node));
        // Through onEntry, so listeners hear of a change as if the watch had delivered it.
        if (entry !== null) onEntry(entry);
      })()
        .catch((err: unknown) => {
          log.warn({ err, node }, 'enrollment refresh failed; answered from the copy');
        })
        .finally(() => refreshing.delete(node));
      refreshing.set(node, read);
      return read;
    },
    async start() {
      const kv = await deps.kv();
      const watch = await kv.watch({ key: ENROLLMENT_KEYS, include: 'updates' });
      iter = watch;
      void (async () => {
        for await (const entry of watch) onEntry(entry);
      })().catch((err: unknown) => log.error({ err }, 'enrollment watch ended'));
      for await (const key of await kv.keys(ENROLLMENT_KEYS)) {
        const entry = await kv.get(key);
        if (entry !== null) apply(recordOf(entry)?.node ?? nodeOfKey(key), recordOf(entry), entry.revision);
      }
      started = true;
      log.info({ enrolled: byToken.size }, 'enrollments loaded');
    },
    async stop() {
      started = false;
      iter?.stop();
    },
  };
}

/**
 * Why a socket's credential no longer holds after its node's enrollment changed, or undefined:
 * a revoke or a new token ends a socket that authenticated with the old one; a first enrollment
 * ends a shared-token socket (the node must now use its own token).
 */
export function credentialEndReason(
  cred: AgentCredential,
  record: EnrollmentRecord | undefined,
): string | undefined {
  if (record?.status === EnrollmentStatus.REVOKED) return 'node revoked';
  if (cred.kind === 'enrolled' && record?.token_sha256 !== cred.tokenSha256) return 'node token replaced';
  if (cred.kind === 'shared' && record?.status === EnrollmentStatus.ACTIVE)
    return 'node enrolled: connect with its own token';
  return undefined;
}

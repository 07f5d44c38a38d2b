import { openKv } from '@hal/bus';
import { ErrorCode, HalError, POLICY_KV_BUCKET } from '@hal/protocol';
import { JetStreamApiCodes, JetStreamApiError, jetstreamManager } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';

/** Key prefixes in the HAL_POLICY bucket; one prefix per kind of state. */
export const KeyPrefix = {
  SESSION: 'sess',
  NODE: 'node',
  POLICY_STATE: 'ps',
  /** Overrides as versions before HAL_POLICY_OVERRIDES kept them; moved there at start. */
  OVERRIDE: 'ovr',
  ACTIONS: 'act',
  /** A command decided and maybe sent, kept until its outcome is recorded (rule, session or node). */
  INTENT: 'pi',
  NOTIFY: 'nt',
  /** A conditional route waiting for its duration (rule, subject). */
  NOTIFY_PENDING: 'np',
  /** Event times a `count` condition counts (rule, scope). */
  NOTIFY_COUNT: 'nc',
} as const;

/**
 * KV keys allow only `[-/_=.A-Za-z0-9]`; ids come from hosts and users, so they are written as
 * base64url, which keeps every id one literal token.
 */
export function keyOf(prefix: string, ...ids: string[]): string {
  return [prefix, ...ids.map((id) => Buffer.from(id, 'utf8').toString('base64url') || '=')].join('.');
}

export function idOfKey(key: string, index = 1): string {
  const token = key.split('.')[index] ?? '';
  return token === '=' ? '' : Buffer.from(token, 'base64url').toString('utf8');
}

/** What a mutation decides: the value to store (with whatever it carries back), or nothing to change. */
export type Mutation<T, R> = { value: T; result: R } | { value?: undefined; result: R };

const CAS_ATTEMPTS = 8;
/** Entries the active instance remembers (about 2 KB each: a session's facts are the largest). */
const CACHE_ENTRIES = 20_000;
/** Longest a key listing may take before the tick gives up on it (see keys()). */
const KEYS_DEADLINE_MS = 3_000;

export interface StateStore {
  kv: KV;
  get<T>(key: string): Promise<{ value: T; revision: number } | undefined>;
  /**
   * Read → decide → compare-and-set, retried on a lost race. The write IS the claim: when two
   * instances decide to act on the same key, only one write succeeds, and the other re-decides
   * on the state the winner stored (and finds there is nothing left to do).
   */
  mutate<T, R>(key: string, decide: (current: T | undefined) => Mutation<T, R>): Promise<R>;
  keys(prefix: string): Promise<string[]>;
  /** Keys matching a NATS subject filter below the bucket (`nt.*.*.<token>`), bounded in time like keys(). */
  keysMatching(filter: string): Promise<string[]>;
  delete(key: string): Promise<void>;
  /**
   * On: reads are answered from what this instance last read or wrote, and a write sends the
   * revision it knows — so handling an event costs its writes, not a read before each. Only for
   * the active instance, the one writer of the bucket's state: another writer's change makes the
   * next compare-and-set fail, which drops the entry and reads it anew. Off (and cleared) when it
   * stops leading: a standby answers queries from the bucket itself.
   */
  remember(on: boolean): void;
  /**
   * Removes keys for good: their messages are purged from the bucket's stream, so not even a delete
   * marker is left (nats-server 2.9 has no per-key TTL; a deleted key's marker would stay for ever).
   */
  forget(keys: readonly string[]): Promise<void>;
}

export async function openStateStore(nc: NatsConnection, replicas = 1): Promise<StateStore> {
  const kv = await openKv(nc, POLICY_KV_BUCKET, { history: 1, replicas });

  /** Absent key: revision 0. Values are kept as JSON text, so no caller can change a cached one. */
  let cache: Map<string, { json: string | undefined; revision: number }> | undefined;
  /**
   * While remembering: the keys of each prefix keys() was asked for, listed once and then kept from
   * this instance's own writes. A listing rides a consumer over the whole bucket, which the active
   * instance writes ~1,000 times a second at full load: on nats-server 2.9 it took over 3 s there,
   * each policy tick. Being the one writer, the active instance knows every key created since.
   * A key deleted by someone else stays listed until the next leadership; its get() finds nothing,
   * which every caller already skips.
   */
  let known: Map<string, Promise<Set<string>>> | undefined;
  const noteKey = (key: string, present: boolean): void => {
    const prefix = key.slice(0, key.indexOf('.'));
    const set = known === undefined ? undefined : seeding.get(prefix);
    if (present) set?.add(key);
    else set?.delete(key);
  };
  /** The sets behind `known`, filled by writes while their first listing is still running. */
  const seeding = new Map<string, Set<string>>();
  const remember = (key: string, json: string | undefined, revision: number): void => {
    if (cache === undefined) return;
    cache.delete(key);
    cache.set(key, { json, revision });
    // Least recently used first out: a Map iterates in insertion order, and a hit is re-inserted.
    if (cache.size > CACHE_ENTRIES) cache.delete(cache.keys().next().value as string);
  };

  async function read(key: string): Promise<{ json: string | undefined; revision: number }> {
    const hit = cache?.get(key);
    if (hit !== undefined) {
      remember(key, hit.json, hit.revision);
      return hit;
    }
    const entry = await kv.get(key);
    const found =
      entry === null || entry.operation !== 'PUT' || entry.length === 0
        ? { json: undefined, revision: entry?.revision ?? 0 }
        : { json: entry.string(), revision: entry.revision };
    remember(key, found.json, found.revision);
    return found;
  }

  async function get<T>(key: string) {
    const { json, revision } = await read(key);
    return json === undefined ? undefined : { value: JSON.parse(json) as T, revision };
  }

  async function mutate<T, R>(key: string, decide: (current: T | undefined) => Mutation<T, R>): Promise<R> {
    for (let attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
      const current = await read(key);
      const outcome = decide(current.json === undefined ? undefined : (JSON.parse(current.json) as T));
      if (outcome.value === undefined) return outcome.result;
      const data = JSON.stringify(outcome.value);
      try {
        // A deleted key has a revision (its marker): updated on that, as create would refuse it.
        const revision =
          current.revision === 0 ? await kv.create(key, data) : await kv.update(key, data, current.revision);
        remember(key, data, revision);
        noteKey(key, true);
        return outcome.result;
      } catch (err) {
        cache?.delete(key);
        // Lost to another writer: the key exists now, whatever it holds.
        noteKey(key, true);
        if (!isLostRace(err)) throw err;
      }
    }
    throw new HalError(
      ErrorCode.CONFLICT,
      `policy state "${key}" kept changing under ${CAS_ATTEMPTS} attempts to update it`,
    );
  }

  /**
   * Lists keys, bounded in time. The listing rides an ordered consumer that was seen to stall for
   * ~30 s on nats-server 2.9; every tick-driven rule waits on it, so a stalled listing is cut and
   * reported instead of freezing the policy engine (the next tick lists again).
   */
  async function keys(prefix: string): Promise<string[]> {
    if (known === undefined) return keysMatching(`${prefix}.>`);
    let listed = known.get(prefix);
    if (listed === undefined) {
      const set = new Set<string>();
      seeding.set(prefix, set);
      const index = known;
      listed = keysMatching(`${prefix}.>`).then(
        (found) => {
          for (const k of found) set.add(k);
          return set;
        },
        (err: unknown) => {
          // Listed again on the next call.
          if (index.get(prefix) === listed) {
            index.delete(prefix);
            seeding.delete(prefix);
          }
          throw err;
        },
      );
      known.set(prefix, listed);
    }
    return [...(await listed)];
  }

  async function keysMatching(filter: string): Promise<string[]> {
    const out: string[] = [];
    const iter = await kv.keys(filter);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      iter.stop();
    }, KEYS_DEADLINE_MS);
    try {
      for await (const k of iter) out.push(k);
    } finally {
      clearTimeout(timer);
    }
    if (timedOut) {
      throw new HalError(
        ErrorCode.TIMEOUT,
        `listing policy state "${filter}" took over ${KEYS_DEADLINE_MS} ms`,
      );
    }
    return out;
  }

  const jsm = await jetstreamManager(nc);
  return {
    kv,
    get,
    mutate,
    keys,
    keysMatching,
    async delete(key) {
      cache?.delete(key);
      await kv.delete(key);
      noteKey(key, false);
    },
    async forget(keys) {
      for (const key of keys) {
        cache?.delete(key);
        noteKey(key, false);
        await jsm.streams.purge(`KV_${POLICY_KV_BUCKET}`, { filter: `$KV.${POLICY_KV_BUCKET}.${key}` });
      }
    },
    remember(on) {
      cache = on ? new Map() : undefined;
      known = on ? new Map() : undefined;
      seeding.clear();
    },
  };
}

function isLostRace(err: unknown): boolean {
  if (err instanceof JetStreamApiError) {
    return (
      err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown
    );
  }
  // kv.create on a live key rejects with the first publish error, which is the same API error;
  // anything else (timeouts, closed connection) is a real failure.
  return false;
}

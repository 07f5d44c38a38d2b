import { SESSION_OWNERS_KV_BUCKET, sessionOwnerKey } from '@hal/protocol';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';
import { OwnerCache } from './owner-cache.ts';

/** The stored record: `{node, since}`; only `node` decides anything. */
function ownerOf(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const node = (value as { node?: unknown }).node;
  return typeof node === 'string' && node !== '' ? node : undefined;
}

export interface SessionOwners {
  /** The owner already known to this process (no round trip), or undefined. */
  cached(session: string): string | undefined;
  /**
   * Records `node` as the owner of `session` unless another node got there first, and returns
   * the owner either way (`node` itself when the claim won or was already its own).
   */
  claim(session: string, node: string): Promise<string>;
  /** The recorded owner, without claiming; undefined for a session nobody reported yet. */
  owner(session: string): Promise<string | undefined>;
}

export interface SessionOwnersOptions {
  /** KV replicas (1 on one host, 3 on a cluster); never lowered for an existing bucket. */
  replicas?: number;
  /** Owners kept in memory; an owner never changes, so a cached answer is always right. */
  cacheSize?: number;
  clock?: () => Date;
}

/**
 * Which node each session belongs to, shared by every gateway instance. opencode session ids are
 * unique, so two nodes reporting the same id means one of them forged it: the first report wins
 * and is final. The record is created with create-if-absent, so two gateways that see the same
 * new session at the same moment agree on one owner, and answers are cached because an owner
 * never changes.
 */
export async function openSessionOwners(
  nc: NatsConnection,
  opts: SessionOwnersOptions = {},
): Promise<SessionOwners> {
  const kv: KV = await new Kvm(nc).create(SESSION_OWNERS_KV_BUCKET, {
    history: 1,
    maxValueSize: 1024,
    ...(opts.replicas === undefined ? {} : { replicas: opts.replicas }),
  });
  const cacheSize = opts.cacheSize ?? 100_000;
  const clock = opts.clock ?? (() => new Date());
  const cache = new OwnerCache(cacheSize);
  const pending = new Map<string, Promise<string>>();

  const remember = (session: string, owner: string): string => {
    cache.set(session, owner);
    return owner;
  };

  const read = async (key: string): Promise<string | undefined> => {
    const entry = await kv.get(key);
    if (entry === null || entry.operation !== 'PUT') return undefined;
    try {
      return ownerOf(entry.json());
    } catch {
      return undefined;
    }
  };

  const settle = async (session: string, node: string): Promise<string> => {
    const key = sessionOwnerKey(session);
    // Two attempts: a create that loses to a record deleted in between is retried once.
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        await kv.create(key, JSON.stringify({ node, since: clock().toISOString() }));
        return remember(session, node);
      } catch (err) {
        if (!isAlreadyThere(err)) throw err;
      }
      const owner = await read(key);
      if (owner !== undefined) return remember(session, owner);
    }
    throw new Error(`owner of session "${session}" could not be read or recorded`);
  };

  return {
    cached: (session) => cache.get(session),
    async owner(session) {
      const known = cache.get(session);
      if (known !== undefined) return known;
      const owner = await read(sessionOwnerKey(session));
      return owner === undefined ? undefined : remember(session, owner);
    },
    claim(session, node) {
      const known = cache.get(session);
      if (known !== undefined) return Promise.resolve(known);
      // One round trip per session however many of its events arrive while it is in flight.
      let p = pending.get(session);
      if (p === undefined) {
        p = settle(session, node).finally(() => pending.delete(session));
        pending.set(session, p);
      }
      return p;
    },
  };
}

function isAlreadyThere(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

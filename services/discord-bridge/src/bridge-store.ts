import { createHash } from 'node:crypto';
import { openKv } from '@hal/bus';
import { DISCORD_KV_BUCKET, DISCORD_UI_KV_BUCKET } from '@hal/protocol';
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream';
import type { KV } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/nats-core';

/** Key prefixes in HAL_DISCORD; ids are written as base64url so any id is one literal KV token. */
export const Key = {
  /** notification id → the alert message it became (claimed before posting). */
  alert: (id: string) => `n.${b64(id)}`,
  /** session id → its thread. */
  thread: (session: string) => `t.${b64(session)}`,
  /** thread id → the session it follows. */
  threadSession: (threadId: string) => `ts.${threadId}`,
  /** a thread message someone wrote → claimed by the instance that injects it. */
  message: (messageId: string) => `m.${messageId}`,
  /** a daily report day → claimed by the instance that posts it. */
  report: (day: string) => `r.${day}`,
  /** a run of alike notifications → the one message they share (see alert-folds.ts FoldRecord). */
  fold: (key: string) => `f.${createHash('sha256').update(key).digest('base64url').slice(0, 32)}`,
  /** a short-lived UI state (kill confirmation, pages). */
  ui: (id: string) => `u.${id}`,
} as const;

const b64 = (id: string) => Buffer.from(id, 'utf8').toString('base64url') || '=';

export interface BridgeStore {
  get<T>(key: string): Promise<{ value: T; revision: number } | undefined>;
  /** Creates the key; false when it already exists (someone else claimed it first). */
  create(key: string, value: unknown): Promise<boolean>;
  /** Compare-and-set; false when the key changed since `revision`. */
  update(key: string, value: unknown, revision: number): Promise<boolean>;
  put(key: string, value: unknown): Promise<void>;
  ui: {
    get<T>(key: string): Promise<T | undefined>;
    put(key: string, value: unknown): Promise<void>;
  };
  kv: KV;
}

function lostRace(err: unknown): boolean {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence ||
      err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  );
}

const DAY_MS = 24 * 3600 * 1000;

/**
 * The bridge's only state: a small KV map of what it posted, plus claims. Two instances side by
 * side decide who posts by `create` (only one succeeds); the loser reads what the winner stored.
 */
export async function openBridgeStore(nc: NatsConnection, replicas = 1): Promise<BridgeStore> {
  const kv = await openKv(nc, DISCORD_KV_BUCKET, { history: 1, replicas });
  const ui = await openKv(nc, DISCORD_UI_KV_BUCKET, { history: 1, ttl: DAY_MS, replicas });

  async function get<T>(key: string) {
    const e = await kv.get(key);
    if (e === null || e.operation !== 'PUT' || e.length === 0) return undefined;
    return { value: e.json<T>(), revision: e.revision };
  }
  return {
    kv,
    get,
    async create(key, value) {
      try {
        await kv.create(key, JSON.stringify(value));
        return true;
      } catch (err) {
        if (lostRace(err)) return false;
        // kv.create on a key that exists may answer with the key's own error on older servers.
        if ((await get(key)) !== undefined) return false;
        throw err;
      }
    },
    async update(key, value, revision) {
      try {
        await kv.update(key, JSON.stringify(value), revision);
        return true;
      } catch (err) {
        if (lostRace(err)) return false;
        throw err;
      }
    },
    async put(key, value) {
      await kv.put(key, JSON.stringify(value));
    },
    ui: {
      async get<T>(key: string) {
        const e = await ui.get(key);
        if (e === null || e.operation !== 'PUT' || e.length === 0) return undefined;
        return e.json<T>();
      },
      async put(key, value) {
        await ui.put(key, JSON.stringify(value));
      },
    },
  };
}

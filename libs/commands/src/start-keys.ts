import { type KV, type NatsConnection, openKv } from '@hal/bus';
import { COMMAND_KEYS_KV_BUCKET } from '@hal/protocol';

/** As long as the agents remember a key's outcome. */
const KEY_TTL_MS = 24 * 3600 * 1000;

export interface StartKeys {
  /**
   * The node a `start` with this key goes to: the one its first attempt chose, else `choose()`'s,
   * recorded before the command is sent. Without this a retry after COMMAND_OUTCOME_UNKNOWN could
   * land on another node (the least busy changes) and start the session twice.
   */
  nodeFor(scope: string, key: string, choose: () => Promise<string>): Promise<string>;
}

const token = (s: string): string => Buffer.from(s, 'utf8').toString('base64url');

export function createStartKeys(nc: NatsConnection): StartKeys {
  let bucket: Promise<KV> | undefined;
  const kv = (): Promise<KV> => {
    bucket ??= openKv(nc, COMMAND_KEYS_KV_BUCKET, { history: 1, ttl: KEY_TTL_MS });
    // A failed open is retried on the next start rather than remembered.
    bucket.catch(() => {
      bucket = undefined;
    });
    return bucket;
  };
  return {
    async nodeFor(scope, key, choose) {
      const store = await kv();
      const name = `start.${token(scope)}.${token(key)}`;
      const known = await store.get(name);
      if (known !== null && known.operation === 'PUT') return known.string();
      const node = await choose();
      try {
        await store.create(name, node);
        return node;
      } catch (err) {
        // Two attempts with one key at once: the first recorded wins, both go there.
        const winner = await store.get(name);
        if (winner !== null && winner.operation === 'PUT') return winner.string();
        throw err;
      }
    },
  };
}

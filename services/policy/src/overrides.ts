import { type KV, type NatsConnection, openKv } from '@hal/bus';
import type { PoliciesConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { POLICY_OVERRIDES_KV_BUCKET } from '@hal/protocol';
import { idOfKey, KeyPrefix, type StateStore } from './state-store.ts';

/** What enable/disable/dry-run changed at run time; an absent field follows the config. */
export interface Override {
  enabled?: boolean;
  dry_run?: boolean;
  by: string;
  at: string;
}

export interface Overrides {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The override, if enable/disable was used; it wins over the config until changed. */
  get(name: string): Override | undefined;
  isEnabled(name: keyof PoliciesConfig): boolean;
  isDryRun(name: keyof PoliciesConfig): boolean;
  set(name: string, enabled: boolean, by: string, now: number): Promise<Override>;
  setDryRun(name: string, dryRun: boolean, by: string, now: number): Promise<Override>;
}

/** A policy name as one KV key (names are config keys, but a key allows only a few characters). */
const keyOfName = (name: string): string => Buffer.from(name, 'utf8').toString('base64url');

/**
 * Enable/disable/dry-run persisted in their own KV bucket (HAL_POLICY_OVERRIDES) and watched, so
 * every instance (and the next start) follows the last change, whichever instance took it. Apart
 * from the per-session state, so pruning that bucket can never drop a decision people made.
 */
export function createOverrides(deps: {
  nc: NatsConnection;
  /** The per-session state bucket, where versions before the split kept overrides (`ovr.*`). */
  store: StateStore;
  policies: PoliciesConfig;
  log: Logger;
  /** `nats.replicas` of the HAL_POLICY_OVERRIDES bucket (absent: 1; never lowered). */
  replicas?: number;
}): Overrides {
  const current = new Map<string, Override>();
  let kv: KV | undefined;
  let watcher: { stop(): void } | undefined;
  let watching: Promise<void> | undefined;

  /** Moves overrides written before the split into the bucket; one written there already wins. */
  async function migrate(bucket: KV): Promise<void> {
    const old = await deps.store.keys(KeyPrefix.OVERRIDE);
    for (const key of old) {
      const entry = await deps.store.get<Override>(key);
      if (entry !== undefined) {
        try {
          await bucket.create(keyOfName(idOfKey(key)), JSON.stringify(entry.value));
        } catch {
          // Already there (another instance moved it, or it was changed since): keep that one.
        }
      }
      await deps.store.forget([key]);
    }
    if (old.length > 0) deps.log.info({ moved: old.length }, 'policy overrides moved to their own bucket');
  }

  /** One KV record per policy: a dry-run change keeps an earlier enable/disable, and the reverse. */
  async function put(name: string, change: Partial<Override>, by: string, now: number): Promise<Override> {
    if (kv === undefined) throw new Error('policy overrides used before start()');
    const value: Override = { ...current.get(name), ...change, by, at: new Date(now).toISOString() };
    await kv.put(keyOfName(name), JSON.stringify(value));
    current.set(name, value);
    return value;
  }

  return {
    async start() {
      const bucket = await openKv(deps.nc, POLICY_OVERRIDES_KV_BUCKET, {
        history: 1,
        ...(deps.replicas === undefined ? {} : { replicas: deps.replicas }),
      });
      kv = bucket;
      await migrate(bucket);
      for await (const key of await bucket.keys()) {
        const entry = await bucket.get(key);
        if (entry?.operation === 'PUT') current.set(idOfKey(key, 0), entry.json<Override>());
      }
      const iter = await bucket.watch({ key: '>' });
      watcher = iter;
      watching = (async () => {
        for await (const e of iter) {
          const name = idOfKey(e.key, 0);
          if (e.operation !== 'PUT') current.delete(name);
          else {
            try {
              current.set(name, e.json<Override>());
            } catch (err) {
              deps.log.error({ err, key: e.key }, 'policy override unreadable');
            }
          }
        }
      })();
    },
    async stop() {
      watcher?.stop();
      await watching;
    },
    get: (name) => current.get(name),
    isEnabled(name) {
      return current.get(name)?.enabled ?? deps.policies[name].enabled;
    },
    isDryRun(name) {
      return current.get(name)?.dry_run ?? deps.policies[name].dry_run;
    },
    set(name, enabled, by, now) {
      return put(name, { enabled }, by, now);
    },
    setDryRun(name, dryRun, by, now) {
      return put(name, { dry_run: dryRun }, by, now);
    },
  };
}

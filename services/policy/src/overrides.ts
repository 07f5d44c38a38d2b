import type { PoliciesConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { idOfKey, KeyPrefix, keyOf, type StateStore } from './state-store.ts';

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

/**
 * Enable/disable persisted in KV and watched, so every instance (and the next start) follows
 * the last change, whichever instance took it.
 */
export function createOverrides(deps: {
  store: StateStore;
  policies: PoliciesConfig;
  log: Logger;
}): Overrides {
  const current = new Map<string, Override>();
  let watcher: { stop(): void } | undefined;
  let watching: Promise<void> | undefined;

  /** One KV record per policy: a dry-run change keeps an earlier enable/disable, and the reverse. */
  async function put(name: string, change: Partial<Override>, by: string, now: number): Promise<Override> {
    const value: Override = { ...current.get(name), ...change, by, at: new Date(now).toISOString() };
    await deps.store.kv.put(keyOf(KeyPrefix.OVERRIDE, name), JSON.stringify(value));
    current.set(name, value);
    return value;
  }

  return {
    async start() {
      for (const key of await deps.store.keys(KeyPrefix.OVERRIDE)) {
        const entry = await deps.store.get<Override>(key);
        if (entry) current.set(idOfKey(key), entry.value);
      }
      const iter = await deps.store.kv.watch({ key: `${KeyPrefix.OVERRIDE}.>` });
      watcher = iter;
      watching = (async () => {
        for await (const e of iter) {
          const name = idOfKey(e.key);
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

import { type NatsConnection, request } from '@hal/bus';
import type { Logger } from '@hal/observability';
import {
  ErrorCode,
  HalError,
  SessionState,
  subjects,
  TrackerQuery,
  trackerQuerySchemas,
} from '@hal/protocol';
import { isSessionOver, type SessionFacts } from './facts.ts';
import { idOfKey, KeyPrefix, keyOf, type StateStore } from './state-store.ts';

export interface PrunerOptions {
  /** How often a sweep runs (it rides the tick). */
  intervalMs: number;
  /** A session is gone only once nothing happened to it for this long (late events, a restart). */
  graceMs: number;
  /** The notifier's collapse window: an nt key older than it, with nothing collapsed, says nothing. */
  collapseWindowMs: number;
}

export const DEFAULT_PRUNE: PrunerOptions = {
  intervalMs: 10 * 60_000,
  graceMs: 3600_000,
  collapseWindowMs: 60_000,
};

export interface PruneReport {
  sessions: number;
  keys: number;
}

export interface Pruner {
  /** Runs a sweep when the last one is `intervalMs` old; errors are logged, never thrown. */
  maybeSweep(): Promise<void>;
  sweep(): Promise<PruneReport>;
}

const token = (id: string): string => Buffer.from(id, 'utf8').toString('base64url') || '=';
const ENDED = new Set<string>([SessionState.COMPLETED, SessionState.KILLED]);

/**
 * Keeps the policy bucket bounded: nats-server 2.9 has no per-key TTL, so the keys of a session
 * that is gone — ended (completed, killed, deleted) or unknown to the tracker, and quiet for the
 * grace period — are purged: its facts, every rule's state, its notification collapse, pending
 * and count keys. Collapse keys whose window passed with nothing collapsed go too. Overrides live
 * in their own bucket and are never touched.
 */
export function createPruner(deps: {
  store: StateStore;
  nc: NatsConnection;
  log: Logger;
  now: () => number;
  sessionRules: readonly string[];
  options: PrunerOptions;
}): Pruner {
  const { store, options } = deps;
  const log = deps.log.child({ component: 'pruner' });
  let last: number | undefined;

  /** Why the session is gone, or null while it may still matter (or the tracker cannot tell). */
  async function goneBecause(f: SessionFacts): Promise<string | null> {
    if (deps.now() - f.updated_at < options.graceMs) return null;
    if (isSessionOver(f)) return `session ${f.state}`;
    try {
      const view = await request(
        deps.nc,
        subjects.trackerQuery(TrackerQuery.SESSIONS_GET),
        { session: f.session },
        trackerQuerySchemas.sessions_get.response,
        { timeoutMs: 2_000 },
      );
      return ENDED.has(view.state) ? `session ${view.state} in the tracker` : null;
    } catch (err) {
      if (err instanceof HalError && err.code === ErrorCode.SESSION_NOT_FOUND)
        return 'unknown to the tracker';
      // The tracker is down or slow: keep everything rather than guess.
      return null;
    }
  }

  async function keysOf(session: string): Promise<string[]> {
    const t = token(session);
    // Only the session rules' state: other `ps` keys (node_offline per node) may share a token.
    const rules = new Set(deps.sessionRules.map((rule) => keyOf(KeyPrefix.POLICY_STATE, rule, session)));
    return [
      keyOf(KeyPrefix.SESSION, session),
      ...(await store.keysMatching(`${KeyPrefix.POLICY_STATE}.*.${t}`)).filter((k) => rules.has(k)),
      ...(await store.keysMatching(`${KeyPrefix.NOTIFY}.*.*.${t}`)),
      ...(await store.keysMatching(`${KeyPrefix.NOTIFY_PENDING}.*.${t}`)),
      ...(await store.keysMatching(`${KeyPrefix.NOTIFY_COUNT}.*.${token(`session:${session}`)}`)),
    ];
  }

  async function staleCollapseKeys(): Promise<string[]> {
    const out: string[] = [];
    const cutoff = deps.now() - Math.max(options.collapseWindowMs, options.graceMs);
    for (const key of await store.keys(KeyPrefix.NOTIFY)) {
      const state = (await store.get<{ window_start: number; suppressed: number }>(key))?.value;
      if (state !== undefined && state.suppressed === 0 && state.window_start < cutoff) out.push(key);
    }
    return out;
  }

  async function sweep(): Promise<PruneReport> {
    let sessions = 0;
    let keys = 0;
    for (const key of await store.keys(KeyPrefix.SESSION)) {
      const facts = (await store.get<SessionFacts>(key))?.value;
      if (facts === undefined) continue;
      const why = await goneBecause(facts);
      if (why === null) continue;
      const gone = await keysOf(idOfKey(key));
      await store.forget(gone);
      log.debug({ session: facts.session, why, keys: gone.length }, 'session state pruned');
      sessions += 1;
      keys += gone.length;
    }
    const stale = await staleCollapseKeys();
    await store.forget(stale);
    keys += stale.length;
    if (keys > 0) log.info({ sessions, keys }, 'policy state pruned');
    return { sessions, keys };
  }

  return {
    sweep,
    async maybeSweep() {
      const now = deps.now();
      if (last !== undefined && now - last < options.intervalMs) return;
      last = now;
      try {
        await sweep();
      } catch (err) {
        log.error({ err }, 'policy state pruning failed');
      }
    },
  };
}

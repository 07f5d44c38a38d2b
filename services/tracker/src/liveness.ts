import type { NatsConnection, Subscription } from '@hal/bus';
import type { Clock, Logger } from '@hal/observability';
import { heartbeatMessageSchema, subjects } from '@hal/protocol';
import type Database from 'better-sqlite3';
import type { TrackerStore } from './tracker-store.ts';

export interface LivenessDeps {
  nc: NatsConnection;
  sqlite: Database.Database;
  store: TrackerStore;
  log: Logger;
  clock: Clock;
  /** A node is offline when its last heartbeat is older than this. */
  timeoutMs: number;
  /** How often to look for silent nodes. */
  checkIntervalMs: number;
  onChange?: () => void;
}

export interface Liveness {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** One check for silent nodes; returns the nodes it marked offline. */
  tick(): string[];
}

/**
 * Node liveness from heartbeats, independent of the gateway: a gateway that dies never
 * publishes `node.offline`, so silence itself must turn a node offline and its sessions
 * `unreachable`.
 */
export function createLiveness(deps: LivenessDeps): Liveness {
  const log = deps.log.child({ component: 'tracker-liveness' });
  let sub: Subscription | undefined;
  let timer: NodeJS.Timeout | undefined;
  // A tracker that just started has not heard anyone yet: silence is measured from here at least.
  let startedAt = new Date(deps.clock.now()).toISOString();

  const markOffline = deps.sqlite.transaction((nodes: string[], time: string) => {
    for (const node of nodes) deps.store.markNodeOffline(node, time);
  });

  function onHeartbeat(data: string): void {
    let hb: ReturnType<typeof heartbeatMessageSchema.parse>;
    try {
      hb = heartbeatMessageSchema.parse(JSON.parse(data));
    } catch (err) {
      log.warn({ err }, 'heartbeat skipped');
      return;
    }
    const time = new Date(deps.clock.now()).toISOString();
    deps.store.recordHeartbeat(hb.node, time, {
      gateway: hb.gateway,
      agentVersion: hb.agent_version,
      projects: hb.projects,
      resources: {
        load: hb.load,
        mem_total_bytes: hb.mem_total_bytes,
        mem_free_bytes: hb.mem_free_bytes,
        ...(hb.disk_total_bytes === undefined ? {} : { disk_total_bytes: hb.disk_total_bytes }),
        ...(hb.disk_free_bytes === undefined ? {} : { disk_free_bytes: hb.disk_free_bytes }),
        opencode_ok: hb.opencode_ok,
        spool_depth: hb.spool_depth,
        // Stored with the other per-heartbeat figures; the node view shows it apart (views.ts).
        ...(hb.clock_skew_ms === undefined ? {} : { clock_skew_ms: hb.clock_skew_ms }),
      },
    });
    deps.onChange?.();
  }

  function tick(): string[] {
    const now = deps.clock.now();
    const stale = deps.store.staleNodes(new Date(now - deps.timeoutMs).toISOString(), startedAt);
    if (stale.length === 0) return stale;
    markOffline(stale, new Date(now).toISOString());
    for (const node of stale) log.warn({ node }, 'node missed its heartbeats; offline');
    deps.onChange?.();
    return stale;
  }

  return {
    async start() {
      startedAt = new Date(deps.clock.now()).toISOString();
      sub = deps.nc.subscribe(subjects.heartbeatAll, {
        callback: (err, msg) => {
          if (err) {
            log.error({ err }, 'heartbeat subscription failed');
            return;
          }
          try {
            onHeartbeat(msg.string());
          } catch (e) {
            log.error({ err: e }, 'heartbeat not recorded');
          }
        },
      });
      timer = setInterval(() => {
        try {
          tick();
        } catch (err) {
          log.error({ err }, 'liveness check failed');
        }
      }, deps.checkIntervalMs);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
      await sub?.drain();
      sub = undefined;
    },
    tick,
  };
}

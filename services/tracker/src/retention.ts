import type { Clock, Logger } from '@hal/observability';
import type Database from 'better-sqlite3';

const DAY_MS = 24 * 3600 * 1000;

export interface RetentionDeps {
  sqlite: Database.Database;
  log: Logger;
  clock: Clock;
  retentionDays: number;
  /** Default one day. */
  intervalMs?: number;
}

export interface Retention {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Deletes what is older than the retention; returns the rows removed. */
  run(): { events: number; logEntries: number };
}

/** Removes indexed events and session log rows older than `security.audit.retention_days`. */
export function createRetention(deps: RetentionDeps): Retention {
  const log = deps.log.child({ component: 'tracker-retention' });
  const delEvents = deps.sqlite.prepare('delete from events where time < ?');
  const delLog = deps.sqlite.prepare('delete from session_log where time < ?');
  let timer: NodeJS.Timeout | undefined;

  function run(): { events: number; logEntries: number } {
    const cutoff = new Date(deps.clock.now() - deps.retentionDays * DAY_MS).toISOString();
    const removed = deps.sqlite.transaction(() => ({
      events: delEvents.run(cutoff).changes,
      logEntries: delLog.run(cutoff).changes,
    }))();
    if (removed.events + removed.logEntries > 0)
      log.info({ cutoff, ...removed }, 'retention removed old rows');
    return removed;
  }

  function safeRun(): void {
    try {
      run();
    } catch (err) {
      log.error({ err }, 'retention failed');
    }
  }

  return {
    async start() {
      safeRun();
      timer = setInterval(safeRun, deps.intervalMs ?? DAY_MS);
      timer.unref();
    },
    async stop() {
      clearInterval(timer);
      timer = undefined;
    },
    run,
  };
}

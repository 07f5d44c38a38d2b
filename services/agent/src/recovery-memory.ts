import type { HalDatabase } from '@hal/db';
import { EventType } from '@hal/protocol';
import type { EventDraft } from './spool.ts';

/** The sentinel row of `recovery_sessions` whose `updated` is the baseline (see RestoredMarks). */
const BASELINE = '';

/** What one agent process learnt and the next one must know, read once at start. */
export interface RestoredMarks {
  /**
   * When the first agent process on this data dir started (epoch ms): what ended before it is not
   * "missed", so sessions untouched since are never read back.
   */
  baselineMs: number;
  /** Session id → its `time.updated` last seen and spooled (opencode ms). */
  sessions: Map<string, number>;
  /** Assistant message ids whose `message.completed` was spooled, oldest first. */
  completed: string[];
  /** Part ids whose final `message.part` was spooled, oldest first. */
  parts: string[];
}

/** What a batch of events moves forward besides the events themselves. */
export interface SeenMarks {
  /** Sessions and the `time.updated` the batch accounts for. */
  sessions: ReadonlyArray<readonly [string, number]>;
}

export interface RecoveryMemory {
  /** Reads the marks; on a data dir that has no baseline yet, takes it at `nowMs` (persisted). */
  restore(nowMs: number): RestoredMarks;
  /** Remembers what `drafts` and `marks` cover; call it in the transaction that spools the drafts. */
  record(drafts: readonly EventDraft[], marks?: SeenMarks): void;
}

/**
 * The agent's recovery marks in the spool's database (same file, same transaction as the events they
 * describe, so a crash never leaves a mark ahead of its events). Bounded like the mapper's memory:
 * `limit` ids of each kind and `limit` sessions, the oldest going first.
 */
export function openRecoveryMemory(sqlite: HalDatabase['sqlite'], limit = 10_000): RecoveryMemory {
  const upsertSession = sqlite.prepare<[string, number]>(
    `INSERT INTO recovery_sessions (session, updated) VALUES (?, ?)
     ON CONFLICT(session) DO UPDATE SET updated = max(updated, excluded.updated)`,
  );
  const insertEmitted = sqlite.prepare<[string, string]>(
    'INSERT OR IGNORE INTO recovery_emitted (id, kind) VALUES (?, ?)',
  );
  const pruneEmitted = sqlite.prepare<[string, string, number]>(
    `DELETE FROM recovery_emitted WHERE kind = ? AND n <= (
       SELECT n FROM recovery_emitted WHERE kind = ? ORDER BY n DESC LIMIT 1 OFFSET ?)`,
  );
  const pruneSessions = sqlite.prepare<[string, number]>(
    `DELETE FROM recovery_sessions WHERE session <> ? AND updated <= (
       SELECT updated FROM recovery_sessions ORDER BY updated DESC LIMIT 1 OFFSET ?)`,
  );
  let writes = 0;

  function prune(): void {
    // Pruning every write would cost a scan each; every `limit / 10` writes keeps the bound loose but cheap.
    writes += 1;
    if (writes < Math.max(1, Math.floor(limit / 10))) return;
    writes = 0;
    pruneEmitted.run('message', 'message', limit);
    pruneEmitted.run('part', 'part', limit);
    pruneSessions.run(BASELINE, limit);
  }

  return {
    restore(nowMs) {
      const sessions = new Map<string, number>();
      let baselineMs: number | undefined;
      const rows = sqlite
        .prepare<[], { session: string; updated: number }>(
          'SELECT session, updated FROM recovery_sessions ORDER BY updated',
        )
        .all();
      for (const row of rows) {
        if (row.session === BASELINE) baselineMs = row.updated;
        else sessions.set(row.session, row.updated);
      }
      if (baselineMs === undefined) {
        baselineMs = nowMs;
        upsertSession.run(BASELINE, nowMs);
      }
      const ids = (kind: string) =>
        sqlite
          .prepare<[string], { id: string }>('SELECT id FROM recovery_emitted WHERE kind = ? ORDER BY n')
          .all(kind)
          .map((r) => r.id);
      return { baselineMs, sessions, completed: ids('message'), parts: ids('part') };
    },
    record(drafts, marks) {
      for (const d of drafts) {
        const id =
          d.type === EventType.MESSAGE_COMPLETED
            ? d.data.message_id
            : d.type === EventType.MESSAGE_PART
              ? d.data.part_id
              : undefined;
        if (typeof id !== 'string') continue;
        insertEmitted.run(id, d.type === EventType.MESSAGE_COMPLETED ? 'message' : 'part');
        prune();
      }
      for (const [session, updated] of marks?.sessions ?? []) {
        upsertSession.run(session, updated);
        prune();
      }
    },
  };
}

import { type EventRecord, parseEventRecord } from '@hal/protocol';
import type Database from 'better-sqlite3';
import { createNodeEffects } from './node-effects.ts';
import { createSessionEffects, DataError } from './session-effects.ts';
import { createTrackerStore, normaliseTime, type TrackerStore } from './tracker-store.ts';

/** One message read from HAL_EVENTS: its stream sequence and raw payload. */
export interface RawEvent {
  streamSeq: number;
  data: string;
}

export interface BatchResult {
  applied: number;
  /** Already applied before (seq ≤ applied seq, or the same event id at another seq). */
  duplicates: number;
  /** Unparseable payloads or data that does not fit its type's schema. */
  rejected: Array<{ streamSeq: number; reason: string }>;
  appliedSeq: number;
}

export interface Projection {
  store: TrackerStore;
  /** Applies a batch in one transaction, including the new applied sequence. */
  applyBatch(batch: readonly RawEvent[]): BatchResult;
  appliedSeq(): number;
  /** Empties every table (for `--rebuild` or a reset stream): the stream is then replayed from the start. */
  reset(): void;
}

/** Builds the projection of HAL_EVENTS into the tracker tables. Pure apart from the database it writes. */
export function createProjection(sqlite: Database.Database): Projection {
  const store = createTrackerStore(sqlite);
  const st = store.statements;

  const applySessionEvent = createSessionEffects(store);
  const applyNodeEvent = createNodeEffects(sqlite, store);

  // Within one batch a session is upserted once; its latest activity is written at the end.
  const seenSessions = new Map<string, string>();

  function applyOne(raw: RawEvent, result: BatchResult): void {
    let event: EventRecord;
    try {
      // The schema's answer, by its fast path for plainly valid records (zod's was most of the time).
      const parsed = parseEventRecord(JSON.parse(raw.data));
      if (!parsed.success) throw parsed.error;
      event = parsed.data;
    } catch (err) {
      result.rejected.push({ streamSeq: raw.streamSeq, reason: reasonOf(err) });
      return;
    }
    const time = normaliseTime(event.time) ?? new Date(0).toISOString();
    // Another node's report about a session: indexed as the stream holds it, but not under that
    // session, and it changes nothing (a session never moves to another node).
    const owner = event.session === null ? undefined : store.head(event.session)?.node;
    const foreign = owner !== undefined && owner !== event.node;
    const inserted = st.insertEvent.run({
      seq: raw.streamSeq,
      id: event.id,
      node: event.node,
      project: event.project,
      session: foreign ? null : event.session,
      type: event.type,
      time,
      record: raw.data,
    });
    if (inserted.changes === 0) {
      result.duplicates++;
      return;
    }
    if (foreign) {
      result.rejected.push({
        streamSeq: raw.streamSeq,
        reason: `session "${event.session}" belongs to node "${owner}"; the report of node "${event.node}" is ignored`,
      });
      return;
    }
    try {
      if (event.session !== null) {
        const seen = seenSessions.get(event.session);
        if (seen === undefined) store.ensureSession(event.session, event.node, event.project, time);
        if (seen === undefined || seen < time) seenSessions.set(event.session, time);
        // Every state change of an event is stamped with that event's time: "waiting for 3 min".
        const before = store.head(event.session)?.state;
        applySessionEvent(event, event.session, raw.streamSeq, time);
        if (store.head(event.session)?.state !== before) st.setStateSince.run(time, event.session);
      } else {
        st.ensureNode.run(event.node, time);
        applyNodeEvent(event, time, raw.streamSeq);
      }
      result.applied++;
    } catch (err) {
      if (!(err instanceof DataError)) throw err;
      // The event stays indexed (it is a valid record); only its effect on the tables is skipped.
      result.rejected.push({ streamSeq: raw.streamSeq, reason: err.message });
    }
  }

  const applyTx = sqlite.transaction((batch: readonly RawEvent[], result: BatchResult) => {
    seenSessions.clear();
    let applied = store.appliedSeq();
    for (const raw of batch) {
      if (raw.streamSeq <= applied) {
        result.duplicates++;
        continue;
      }
      applyOne(raw, result);
      applied = raw.streamSeq;
    }
    for (const [session, time] of seenSessions) st.touchSession.run(time, session);
    seenSessions.clear();
    // Stored in the same transaction as the rows: a crash after commit but before the acks
    // reach JetStream redelivers messages that are then recognised as applied.
    store.setAppliedSeq(applied);
    result.appliedSeq = applied;
  });

  return {
    store,
    applyBatch(batch) {
      const result: BatchResult = { applied: 0, duplicates: 0, rejected: [], appliedSeq: 0 };
      store.withSessionHeads(() => applyTx(batch, result));
      return result;
    },
    appliedSeq: () => store.appliedSeq(),
    reset: sqlite.transaction(() => {
      for (const table of [
        'events',
        'session_log',
        'session_messages',
        'sessions',
        'nodes',
        'env_results',
        'meta',
      ]) {
        sqlite.prepare(`delete from ${table}`).run();
      }
    }),
  };
}

function reasonOf(err: unknown): string {
  if (err instanceof SyntaxError) return `not JSON: ${err.message}`;
  if (err && typeof err === 'object' && 'issues' in err && Array.isArray(err.issues)) {
    const issue = err.issues[0] as { path?: PropertyKey[]; message?: string } | undefined;
    return `not an event record: ${issue?.path?.join('.') ?? ''}: ${issue?.message ?? ''}`;
  }
  return err instanceof Error ? err.message : String(err);
}

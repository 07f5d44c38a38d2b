import { fileURLToPath } from 'node:url';
import { type HalDatabase, openDatabase } from '@hal/db';
import type { Logger } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';

/** An event before the spool numbers it: everything but `seq`. */
export type EventDraft = Omit<EventRecord, 'seq'>;

export interface SpooledEvent {
  seq: number;
  /** The record exactly as it will travel (JSON text), so a resend is byte-identical. */
  json: string;
  bytes: number;
}

export interface Spool {
  /** Numbers and stores the events in one transaction; they are on disk when this returns. */
  append(drafts: readonly EventDraft[]): EventRecord[];
  /** Up to `limit` stored events with seq > afterSeq, oldest first. */
  pending(afterSeq: number, limit: number): SpooledEvent[];
  /** Deletes every event with seq ≤ `seq` (the gateway made them durable). */
  ack(seq: number): void;
  /** Deletes one event that can never be sent (the caller reports it with agent.event_dropped). */
  drop(seq: number): void;
  /** Highest seq the gateway acked, persisted. */
  ackedSeq(): number;
  /** Highest seq ever assigned, persisted. */
  lastSeq(): number;
  depth(): number;
  bytes(): number;
  close(): void;
  /**
   * The spool's SQLite handle: the agent's recovery marks live in the same file and are written in the
   * same transaction as the events they describe.
   */
  readonly sqlite: HalDatabase['sqlite'];
}

export interface SpoolOptions {
  file: string;
  maxBytes: number;
  /** Builds the `agent.spool_overflow` draft (the agent knows node and time). */
  overflowDraft: (data: {
    dropped: number;
    oldest_dropped_seq: number;
    newest_dropped_seq: number;
  }) => EventDraft;
  log?: Logger;
}

const MIGRATIONS = fileURLToPath(new URL('../drizzle', import.meta.url));

/**
 * The on-disk spool (SQLite, WAL). Rows leave only by `ack` or, when the size bound is hit, oldest first
 * with an `agent.spool_overflow` event that counts them — never silently.
 */
export function openSpool(opts: SpoolOptions): Spool {
  const handle = openDatabase({ file: opts.file, migrationsFolder: MIGRATIONS, log: opts.log });
  const { sqlite } = handle;
  // FULL sync: an event is promised to exist once append returns, even across a power cut.
  sqlite.pragma('synchronous = FULL');

  const getMeta = sqlite.prepare<[string], { value: number }>('SELECT value FROM spool_meta WHERE key = ?');
  const setMeta = sqlite.prepare<[string, number]>(
    'INSERT INTO spool_meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
  );
  const insert = sqlite.prepare<[number, string, number, string]>(
    'INSERT INTO spool_events (seq, id, bytes, record) VALUES (?, ?, ?, ?)',
  );
  const selectPending = sqlite.prepare<[number, number], { seq: number; record: string; bytes: number }>(
    'SELECT seq, record, bytes FROM spool_events WHERE seq > ? ORDER BY seq LIMIT ?',
  );
  const deleteUpTo = sqlite.prepare<[number]>('DELETE FROM spool_events WHERE seq <= ?');
  const deleteOne = sqlite.prepare<[number]>('DELETE FROM spool_events WHERE seq = ?');
  const sizeOf = sqlite.prepare<[number], { bytes: number }>('SELECT bytes FROM spool_events WHERE seq = ?');
  const oldest = sqlite.prepare<[number], { seq: number; bytes: number }>(
    'SELECT seq, bytes FROM spool_events ORDER BY seq LIMIT ?',
  );
  const totals = sqlite.prepare<[], { n: number; b: number | null }>(
    'SELECT COUNT(*) AS n, SUM(bytes) AS b FROM spool_events',
  );

  let lastSeq = getMeta.get('last_seq')?.value ?? 0;
  let acked = getMeta.get('acked_seq')?.value ?? 0;
  const initial = totals.get();
  let count = initial?.n ?? 0;
  let total = initial?.b ?? 0;

  /** Deletes oldest rows until `needed` more bytes fit; returns what went. */
  function makeRoom(needed: number): { dropped: number; first: number; last: number } | undefined {
    if (total + needed <= opts.maxBytes || count === 0) return undefined;
    let dropped = 0;
    let first = -1;
    let last = -1;
    while (total + needed > opts.maxBytes && count > 0) {
      const rows = oldest.all(256);
      for (const row of rows) {
        if (total + needed <= opts.maxBytes) break;
        if (first < 0) first = row.seq;
        last = row.seq;
        total -= row.bytes;
        count -= 1;
        dropped += 1;
      }
      deleteUpTo.run(last);
    }
    return dropped === 0 ? undefined : { dropped, first, last };
  }

  function store(draft: EventDraft): EventRecord {
    lastSeq += 1;
    const record = { ...draft, seq: lastSeq } as EventRecord;
    const json = JSON.stringify(record);
    const bytes = Buffer.byteLength(json);
    insert.run(lastSeq, record.id, bytes, json);
    total += bytes;
    count += 1;
    return record;
  }

  const appendTx = sqlite.transaction((drafts: readonly EventDraft[]): EventRecord[] => {
    const sized = drafts.map((d) => Buffer.byteLength(JSON.stringify(d)) + 24);
    const needed = sized.reduce((a, b) => a + b, 0) + 512;
    const room = makeRoom(needed);
    const out: EventRecord[] = [];
    if (room !== undefined) {
      opts.log?.warn(
        { dropped: room.dropped, oldest: room.first, newest: room.last },
        'spool full, oldest dropped',
      );
      out.push(
        store(
          opts.overflowDraft({
            dropped: room.dropped,
            oldest_dropped_seq: room.first,
            newest_dropped_seq: room.last,
          }),
        ),
      );
    }
    for (const d of drafts) out.push(store(d));
    setMeta.run('last_seq', lastSeq);
    return out;
  });

  const ackTx = sqlite.transaction((seq: number) => {
    deleteUpTo.run(seq);
    setMeta.run('acked_seq', seq);
    const t = totals.get();
    count = t?.n ?? 0;
    total = t?.b ?? 0;
  });

  return {
    append(drafts) {
      if (drafts.length === 0) return [];
      return appendTx(drafts);
    },
    pending(afterSeq, limit) {
      return selectPending.all(afterSeq, limit).map((r) => ({ seq: r.seq, json: r.record, bytes: r.bytes }));
    },
    ack(seq) {
      if (seq <= acked) return;
      acked = Math.min(seq, lastSeq);
      ackTx(acked);
    },
    drop(seq) {
      const row = sizeOf.get(seq);
      if (row === undefined) return;
      deleteOne.run(seq);
      total -= row.bytes;
      count -= 1;
    },
    ackedSeq: () => acked,
    lastSeq: () => lastSeq,
    depth: () => count,
    bytes: () => total,
    close: () => handle.close(),
    sqlite,
  };
}

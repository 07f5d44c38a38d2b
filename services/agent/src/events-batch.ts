import { LIMITS, makeEnvelope, WsType } from '@hal/protocol';
import type { SpooledEvent } from './spool.ts';

/** One `events` frame packed from spooled rows, or none when every row read was unsendable. */
export type EventsBatch = { frame: string; last: number } | { frame: undefined; dropped: number };

/**
 * Packs spooled rows, in order, into one `events` frame of at most `maxFrame` bytes. The frame is
 * assembled from the stored JSON, so a resend is byte-identical to the first send. A row that
 * could never fit is handed to `onUnsendable` (the agent drops it and reports the drop) instead of
 * blocking every row behind it.
 */
export function packEvents(
  rows: readonly SpooledEvent[],
  maxFrame: number,
  onUnsendable: (row: SpooledEvent, limitBytes: number) => void,
): EventsBatch {
  const env = makeEnvelope(WsType.EVENTS, { events: [{}] });
  const head = JSON.stringify({ ...env, payload: undefined }).slice(0, -1);
  const budget = maxFrame - head.length - 64;
  const limit = Math.min(budget, LIMITS.eventBytes);
  const parts: string[] = [];
  let size = 0;
  let last = 0;
  let dropped = 0;
  for (const row of rows) {
    if (row.bytes > limit) {
      // Never resent for ever: what was batched goes first, then this record is dropped.
      if (parts.length > 0) break;
      onUnsendable(row, limit);
      dropped += 1;
      continue;
    }
    if (parts.length > 0 && size + row.bytes + 1 > budget) break;
    parts.push(row.json);
    size += row.bytes + 1;
    last = row.seq;
  }
  if (parts.length === 0) return { frame: undefined, dropped };
  return { frame: `${head},"payload":{"events":[${parts.join(',')}]}}`, last };
}

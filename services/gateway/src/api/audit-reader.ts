import type { JetStreamClient } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { type AuditRecord, auditRecordSchema, StreamName } from '@hal/protocol';

export interface AuditQuery {
  limit: number;
  actor?: string | undefined;
  action?: string | undefined;
}

/** With filters, older records are scanned in windows of this size, up to MAX_SCAN records. */
const WINDOW = 500;
const MAX_SCAN = 20_000;
const FETCH_EXPIRES_MS = 1_000;

function matches(record: AuditRecord, q: AuditQuery): boolean {
  if (q.action !== undefined && record.action !== q.action) return false;
  if (
    q.actor !== undefined &&
    record.actor.id !== q.actor &&
    `${record.actor.kind}:${record.actor.id}` !== q.actor
  ) {
    return false;
  }
  return true;
}

/**
 * The newest audit records, newest first, read straight from HAL_AUDIT: the stream is the
 * record, so there is no second copy to keep in step. Reads windows backwards from the last
 * sequence with short-lived ordered consumers until `limit` records match.
 */
export async function readAudit(js: JetStreamClient, q: AuditQuery, log: Logger): Promise<AuditRecord[]> {
  const jsm = await js.jetstreamManager();
  const { state } = await jsm.streams.info(StreamName.AUDIT);
  const out: AuditRecord[] = [];
  if (state.messages === 0) return out;
  const filtered = q.actor !== undefined || q.action !== undefined;
  let to = state.last_seq;
  let scanned = 0;
  while (out.length < q.limit && to >= state.first_seq && scanned < MAX_SCAN) {
    const size = filtered ? WINDOW : q.limit - out.length;
    const from = Math.max(state.first_seq, to - size + 1);
    const window: AuditRecord[] = [];
    const consumer = await js.consumers.get(StreamName.AUDIT, {
      deliver_policy: 'by_start_sequence',
      opt_start_seq: from,
    });
    const iter = await consumer.fetch({ max_messages: to - from + 1, expires: FETCH_EXPIRES_MS });
    for await (const m of iter) {
      if (m.seq > to) break;
      const parsed = auditRecordSchema.safeParse(m.json());
      if (parsed.success) window.push(parsed.data);
      else log.warn({ seq: m.seq }, 'unreadable audit record skipped');
      if (m.seq >= to || m.info.pending === 0) break;
    }
    iter.stop();
    // Deleted now, not left for the server to drop after its inactivity threshold (5 min): a
    // dashboard's audit view polling every few seconds would keep dozens of them per viewer.
    await consumer.delete().catch((err: unknown) => log.debug({ err }, 'audit read consumer already gone'));
    for (const record of window.reverse()) {
      if (out.length >= q.limit) break;
      if (matches(record, q)) out.push(record);
    }
    scanned += to - from + 1;
    to = from - 1;
  }
  return out;
}

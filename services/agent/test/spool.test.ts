import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { type EventDraft, openSpool } from '../src/index.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hal-spool-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const draft = (type = 'session.idle', data: Record<string, unknown> = {}): EventDraft => ({
  version: 1,
  id: crypto.randomUUID(),
  node: 'n1',
  project: 'p',
  session: 'ses_1',
  type,
  time: new Date().toISOString(),
  data,
});
const overflowDraft = (data: Record<string, unknown>): EventDraft => ({
  ...draft('agent.spool_overflow', data),
  session: null,
  project: '',
});

test('spool - events are on disk when append returns, numbered from 1', (t) => {
  const file = join(tempDir(t), 'spool.db');
  const spool = openSpool({ file, maxBytes: 1_000_000, overflowDraft });
  t.after(() => spool.close());
  const out = spool.append([draft(), draft()]);
  assert.deepEqual(
    out.map((e) => e.seq),
    [1, 2],
  );
  // A second, independent handle sees the rows: they were committed before anything could be sent.
  const other = new Database(file, { readonly: true });
  const rows = other.prepare('SELECT seq, id FROM spool_events ORDER BY seq').all() as Array<{
    seq: number;
    id: string;
  }>;
  other.close();
  assert.deepEqual(rows, [
    { seq: 1, id: out[0]?.id },
    { seq: 2, id: out[1]?.id },
  ]);
  assert.equal(JSON.parse(spool.pending(0, 10)[1]?.json ?? '{}').id, out[1]?.id);
});

test('spool - seq keeps growing across reopen, even after every row was acked', (t) => {
  const file = join(tempDir(t), 'spool.db');
  let spool = openSpool({ file, maxBytes: 1_000_000, overflowDraft });
  spool.append([draft(), draft(), draft()]);
  spool.ack(3);
  assert.equal(spool.depth(), 0);
  spool.close();
  spool = openSpool({ file, maxBytes: 1_000_000, overflowDraft });
  t.after(() => spool.close());
  assert.equal(spool.ackedSeq(), 3);
  assert.equal(spool.append([draft()])[0]?.seq, 4);
});

test('spool - ack deletes rows up to seq only, and pending pages after a seq', (t) => {
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 1_000_000, overflowDraft });
  t.after(() => spool.close());
  spool.append([draft(), draft(), draft(), draft()]);
  spool.ack(2);
  assert.deepEqual(
    spool.pending(0, 10).map((r) => r.seq),
    [3, 4],
  );
  assert.deepEqual(
    spool.pending(3, 10).map((r) => r.seq),
    [4],
  );
  assert.deepEqual(
    spool.pending(0, 1).map((r) => r.seq),
    [3],
  );
  spool.ack(1); // an older ack changes nothing
  assert.equal(spool.depth(), 2);
});

test('spool - when full, the oldest go first and agent.spool_overflow counts them', (t) => {
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 8_000, overflowDraft });
  t.after(() => spool.close());
  const pad = 'x'.repeat(900);
  for (let i = 0; i < 6; i++) spool.append([draft('session.idle', { pad })]);
  assert.equal(spool.lastSeq(), 6);
  const out = spool.append([draft('session.busy', { pad })]);
  const overflow = out.find((e) => e.type === 'agent.spool_overflow');
  assert.ok(overflow, 'an overflow event must be appended');
  const data = overflow.data as { dropped: number; oldest_dropped_seq: number; newest_dropped_seq: number };
  assert.ok(data.dropped >= 1);
  assert.equal(data.oldest_dropped_seq, 1);
  assert.equal(data.newest_dropped_seq, data.dropped);
  const left = spool.pending(0, 100).map((r) => r.seq);
  assert.equal(left[0], data.newest_dropped_seq + 1, 'exactly the counted rows are gone, oldest first');
  assert.ok(spool.bytes() <= 8_000);
  assert.equal(out.at(-1)?.type, 'session.busy');
  assert.equal(left.at(-1), out.at(-1)?.seq);
});

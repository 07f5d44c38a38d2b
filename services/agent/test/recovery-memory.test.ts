import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type EventDraft, openRecoveryMemory, openSpool } from '../src/index.ts';

const draft = (type: string, data: Record<string, unknown>): EventDraft => ({
  version: 1,
  id: crypto.randomUUID(),
  node: 'n1',
  project: 'p',
  session: 'ses_1',
  type,
  time: new Date().toISOString(),
  data,
});

function open(file: string) {
  return openSpool({ file, maxBytes: 10_000_000, overflowDraft: (d) => draft('agent.spool_overflow', d) });
}

test('recovery memory - marks and emitted ids survive a reopen; marks only move forward; the baseline is taken once', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-recovery-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'spool.db');
  const spool = open(file);
  const memory = openRecoveryMemory(spool.sqlite);
  assert.deepEqual(memory.restore(1_500), {
    baselineMs: 1_500,
    sessions: new Map(),
    completed: [],
    parts: [],
  });
  memory.record(
    [
      draft('message.part', { message_id: 'msg_1', part_id: 'prt_1', text: 'hi' }),
      draft('message.completed', { message_id: 'msg_2' }),
      draft('session.busy', {}),
      // The same completion twice (a resend of a batch) is kept once.
      draft('message.completed', { message_id: 'msg_2' }),
    ],
    { sessions: [['ses_1', 2_000]] },
  );
  memory.record([], {
    sessions: [
      ['ses_1', 1_000],
      ['ses_2', 500],
    ],
  });
  spool.close();

  const again = open(file);
  t.after(() => again.close());
  assert.deepEqual(openRecoveryMemory(again.sqlite).restore(9_000), {
    baselineMs: 1_500,
    sessions: new Map([
      ['ses_2', 500],
      ['ses_1', 2_000],
    ]),
    completed: ['msg_2'],
    parts: ['prt_1'],
  });
});

test('recovery memory - bounded: the oldest ids and the least recently moved sessions go first', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-recovery-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const spool = open(join(dir, 'spool.db'));
  t.after(() => spool.close());
  const memory = openRecoveryMemory(spool.sqlite, 20);
  memory.restore(500);
  for (let i = 0; i < 100; i += 1) {
    memory.record([draft('message.completed', { message_id: `msg_${String(i).padStart(3, '0')}` })], {
      sessions: [[`ses_${i}`, 1_000 + i]],
    });
  }
  const restored = memory.restore(9_000);
  assert.equal(restored.baselineMs, 500, 'the baseline row is never pruned');
  // Pruned every limit/10 writes down to `limit`: at most limit + limit/10 remain, the newest.
  assert.ok(
    restored.completed.length >= 20 && restored.completed.length <= 22,
    String(restored.completed.length),
  );
  assert.equal(restored.completed.at(-1), 'msg_099');
  assert.ok(!restored.completed.includes('msg_050'));
  assert.ok(restored.sessions.size >= 20 && restored.sessions.size <= 22, String(restored.sessions.size));
  assert.equal(restored.sessions.get('ses_99'), 1_099);
  assert.equal(restored.sessions.has('ses_10'), false);
});

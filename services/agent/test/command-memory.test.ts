import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Command, okReply, type Reply } from '@hal/protocol';
import { COMMAND_MEMORY_MS, openCommandMemory } from '../src/command-memory.ts';
import { openSpool } from '../src/spool.ts';

const actor = { kind: 'user', id: 'ops' } as const;
const inject: Command = { type: 'inject', session: 's1', prompt: 'go on' };

function openMemory(file: string, clock: { t: number }) {
  const spool = openSpool({
    file,
    maxBytes: 1024 * 1024,
    overflowDraft: () => {
      throw new Error('no overflow here');
    },
  });
  return { spool, memory: openCommandMemory(spool.sqlite, () => clock.t) };
}

test('command memory - one key runs once: repeats get the recorded reply, a concurrent repeat joins, another command under the key is CONFLICT', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-cmdmem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
  const { spool, memory } = openMemory(join(dir, 'spool.db'), clock);
  t.after(() => spool.close());
  let runs = 0;
  let release: () => void = () => undefined;
  const run = () =>
    new Promise<Reply<unknown>>((resolve) => {
      runs += 1;
      release = () => resolve(okReply({ session: 's1', injected: true }));
    });

  const first = memory.once('k1', inject, actor, run);
  const joined = memory.once('k1', inject, actor, run);
  release();
  assert.deepEqual(await first, { ok: true, data: { session: 's1', injected: true } });
  assert.deepEqual(await joined, await first);
  assert.deepEqual(await memory.once('k1', inject, actor, run), await first);
  assert.equal(runs, 1);

  const other = await memory.once('k1', { ...inject, prompt: 'something else' }, actor, run);
  assert.equal(other.ok, false);
  assert.equal(other.ok ? '' : other.error.code, 'CONFLICT');
  const otherActor = await memory.once('k1', inject, { kind: 'user', id: 'intruder' }, run);
  assert.equal(otherActor.ok ? '' : otherActor.error.code, 'CONFLICT');
  assert.equal(runs, 1);

  // A failure is an outcome too: the retry gets it instead of a second attempt.
  const failing = async (): Promise<Reply<unknown>> => {
    runs += 1;
    throw new Error('opencode went away');
  };
  const failed = await memory.once('k2', inject, actor, failing);
  assert.equal(failed.ok ? '' : failed.error.code, 'INTERNAL');
  assert.deepEqual(await memory.once('k2', inject, actor, failing), failed);
  assert.equal(runs, 2);
});

test('command memory - a command running when the agent stopped is COMMAND_OUTCOME_UNKNOWN after a restart; outcomes are forgotten after 24 h', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-cmdmem-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'spool.db');
  const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
  const before = openMemory(file, clock);
  void before.memory.once('running', inject, actor, () => new Promise<Reply<unknown>>(() => undefined));
  await before.memory.once('done', inject, actor, async () => okReply({ injected: true }));
  before.spool.close();

  const after = openMemory(file, clock);
  t.after(() => after.spool.close());
  let runs = 0;
  const run = async () => {
    runs += 1;
    return okReply({ again: true });
  };
  const unknown = await after.memory.once('running', inject, actor, run);
  assert.equal(unknown.ok, false);
  assert.equal(unknown.ok ? '' : unknown.error.code, 'COMMAND_OUTCOME_UNKNOWN');
  assert.match(
    unknown.ok ? '' : unknown.error.message,
    /was running when the agent stopped; it may have run/,
  );
  assert.deepEqual(await after.memory.once('done', inject, actor, run), {
    ok: true,
    data: { injected: true },
  });
  assert.equal(runs, 0, 'nothing runs twice across a restart');

  clock.t += COMMAND_MEMORY_MS - 1;
  assert.equal(after.memory.prune(), 0);
  clock.t += 2;
  assert.equal(after.memory.prune(), 2);
  assert.deepEqual(await after.memory.once('done', inject, actor, run), { ok: true, data: { again: true } });
  assert.equal(runs, 1, 'a key older than 24 h runs again');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { ErrorCode, HalError } from '@hal/protocol';
import { FakeClock, waitFor } from '@hal/testkit';
import { createDeadlines } from '../src/deadlines.ts';
import { createHandOffRunner } from '../src/hand-off.ts';
import type { OpencodeClient } from '../src/opencode-client.ts';
import type { ProjectEvent } from '../src/opencode-events.ts';

// The hand-off's failure paths, which a real opencode will not produce on demand: a client
// stand-in that records calls and fails where told. The happy path runs against a real opencode
// in services/supervisor/test/handoff-e2e.test.ts.
const log = createLogger({ service: 'agent-test', level: 'silent' });
const project = { name: 'alpha', directory: '/srv/alpha' };

function setup(fail: Partial<Record<'abort' | 'createSession' | 'promptAsync', HalError>> = {}) {
  const calls: string[] = [];
  const events: ProjectEvent[] = [];
  let ids = 0;
  const client = {
    getSession: async (_dir: string, id: string) => ({ id, title: 'work' }),
    messages: async () => [],
    promptAsync: async (_dir: string, id: string) => {
      calls.push(`prompt ${id}`);
      if (fail.promptAsync && id !== 'old') throw fail.promptAsync;
    },
    abort: async (_dir: string, id: string) => {
      calls.push(`abort ${id}`);
      if (fail.abort) throw fail.abort;
      return true;
    },
    createSession: async () => {
      calls.push('create');
      if (fail.createSession) throw fail.createSession;
      return { id: 'new' };
    },
  } as unknown as OpencodeClient;
  // The idle bound runs on this clock only: the deadlines' own timer is an hour, so nothing
  // passes unless the test moves the clock and checks.
  const clock = new FakeClock();
  const deadlines = createDeadlines(clock, 3_600_000);
  const runner = createHandOffRunner({
    client,
    log,
    emit: (evts) => events.push(...evts),
    now: () => clock.now(),
    deadlines,
    newId: () => `ho_${++ids}`,
  });
  const of = (type: string) => events.filter((e) => e.type === type);
  /** Moves the agent's clock and lets the deadlines see it (what the agent's tick() does). */
  const advance = (ms: number) => {
    clock.advance(ms);
    deadlines.check();
  };
  return { runner, calls, events, of, advance, deadlines };
}

test('hand-off runner - idle after busy ends the wait; an idle before the prompt made it busy does not', async () => {
  const { runner, calls, of } = setup();
  const accepted = runner.begin(
    { project, session: 'old' },
    { type: 'handoff', session: 'old', wait_idle_ms: 60_000 },
  );
  assert.deepEqual(accepted, { handoff_id: 'ho_1', session: 'old', project: 'alpha', wait_idle_ms: 60_000 });
  assert.equal(of('handoff.started').length, 1, 'started is emitted before the answer');
  await waitFor(() => calls.includes('prompt old'));
  runner.observe({ session: 'old', type: 'session.idle' });
  runner.observe({ session: 'other', type: 'session.busy' });
  assert.ok(!calls.includes('abort old'), 'an idle without busy is old news');
  runner.observe({ session: 'old', type: 'session.busy' });
  runner.observe({ session: 'old', type: 'session.idle' });
  const done = await waitFor(() => of('handoff.completed')[0]);
  assert.deepEqual(calls, ['prompt old', 'abort old', 'create', 'prompt new']);
  assert.equal(done.session, 'old');
  assert.equal(done.data.session, 'new');
  assert.equal(done.data.went_idle, true);
  assert.equal(runner.running(), 0);
});

test('hand-off runner - the idle wait is bounded by the agent clock: nothing at 59.999 s, the abort at 60 s', async () => {
  const { runner, calls, of, advance, deadlines } = setup();
  runner.begin({ project, session: 'old' }, { type: 'handoff', session: 'old' });
  await waitFor(() => calls.includes('prompt old'));
  // Busy and never idle: only the bound can end the wait.
  runner.observe({ session: 'old', type: 'session.busy' });
  advance(59_999);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(calls, ['prompt old'], 'not aborted before the bound by the clock');
  advance(1);
  const done = await waitFor(() => of('handoff.completed')[0]);
  assert.deepEqual(calls, ['prompt old', 'abort old', 'create', 'prompt new']);
  assert.equal(done.data.went_idle, false);
  assert.equal(done.data.waited_ms, 60_000, 'waited_ms is measured on the agent clock');
  deadlines.stop();
});

test('hand-off runner - a second hand-off of the same session is CONFLICT while the first runs', async () => {
  const { runner } = setup();
  runner.begin({ project, session: 'old' }, { type: 'handoff', session: 'old', wait_idle_ms: 60_000 });
  assert.throws(
    () => runner.begin({ project, session: 'old' }, { type: 'handoff', session: 'old' }),
    (err: unknown) => err instanceof HalError && err.code === ErrorCode.CONFLICT && /ho_1/.test(err.message),
  );
  await runner.stop();
});

test('hand-off runner - a failing step is handoff.failed with its stage, code and whether the old session was stopped', async () => {
  const abortFails = setup({ abort: new HalError(ErrorCode.OPENCODE_UNREACHABLE, 'opencode is down') });
  abortFails.runner.begin({ project, session: 'old' }, { type: 'handoff', session: 'old', wait_idle_ms: 0 });
  const a = await waitFor(() => abortFails.of('handoff.failed')[0]);
  assert.deepEqual(a.data, {
    handoff_id: 'ho_1',
    stage: 'abort',
    code: 'OPENCODE_UNREACHABLE',
    message: 'opencode is down',
    aborted: false,
  });
  assert.equal(abortFails.of('handoff.completed').length, 0);

  const createFails = setup({ createSession: new HalError(ErrorCode.OPENCODE_ERROR, 'x'.repeat(2000)) });
  createFails.runner.begin({ project, session: 'old' }, { type: 'handoff', session: 'old', wait_idle_ms: 0 });
  const c = await waitFor(() => createFails.of('handoff.failed')[0]);
  assert.equal(c.data.stage, 'start_new');
  assert.equal(c.data.aborted, true);
  assert.equal(String(c.data.message).length, 500, 'the message is bounded');
});

test('hand-off runner - stopping the agent ends a waiting hand-off as failed and never aborts the session', async () => {
  const { runner, calls, of } = setup();
  runner.begin({ project, session: 'old' }, { type: 'handoff', session: 'old', wait_idle_ms: 600_000 });
  await waitFor(() => calls.includes('prompt old'));
  await runner.stop();
  assert.ok(!calls.includes('abort old'));
  const failed = of('handoff.failed')[0];
  assert.equal(failed?.data.code, 'UNAVAILABLE');
  assert.equal(failed?.data.stage, 'wait_idle');
  assert.equal(failed?.data.aborted, false);
  assert.equal(runner.running(), 0);
});

import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { createLogger, Readiness } from '@hal/observability';
import { createLifecycleGroup, LIFECYCLE_CHECK, type LifecyclePart } from '@hal/runtime/process';
import { compiledEntry, waitFor } from '@hal/testkit';

const log = createLogger({ service: 'lifecycle-test', level: 'silent' });

/** A promise and its resolve, for holding a part's start where the test wants it. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = () => {};
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

function recorder() {
  const trail: string[] = [];
  const part = (name: string, hooks: { start?: () => Promise<void>; stop?: () => Promise<void> } = {}) =>
    ({
      name,
      async start() {
        trail.push(`start ${name}`);
        await hooks.start?.();
        trail.push(`started ${name}`);
      },
      async stop() {
        trail.push(`stop ${name}`);
        await hooks.stop?.();
      },
    }) satisfies LifecyclePart;
  return { trail, part };
}

test('lifecycle - stop while starting waits for the part being started, starts no more, stops in reverse', async () => {
  const { trail, part } = recorder();
  const held = gate();
  const readiness = new Readiness();
  const group = createLifecycleGroup([part('a'), part('b', { start: () => held.promise }), part('c')], {
    log,
    readiness,
  });
  const starting = group.start();
  await waitFor(() => trail.includes('start b'), { message: 'b is starting' });
  const report = await readiness.evaluate();
  assert.deepEqual(report.checks, [{ name: LIFECYCLE_CHECK, ok: false, detail: 'starting b' }]);

  const stopping = group.stop();
  // stop() waits for b: nothing is stopped while b is still coming up.
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(trail, ['start a', 'started a', 'start b']);
  held.open();
  await starting;
  await stopping;
  assert.deepEqual(trail, ['start a', 'started a', 'start b', 'started b', 'stop b', 'stop a']);
  assert.deepEqual(group.running(), []);
  // A second stop (a second Ctrl-C) and a late start do nothing.
  await group.stop();
  await group.start();
  assert.equal(trail.length, 6);
});

test('lifecycle - ready only once every part has started', async () => {
  const { part } = recorder();
  const readiness = new Readiness();
  const group = createLifecycleGroup([part('a'), part('b')], { log, readiness });
  await group.start();
  assert.deepEqual(await readiness.evaluate(), { ready: true, checks: [] });
  assert.deepEqual(group.running(), ['a', 'b']);
  await group.stop();
  assert.equal((await readiness.evaluate()).ready, false, 'a stopped process is not ready');
});

test('lifecycle - a failed start stops nothing it did not start; a failed stop still stops the rest and names the part', async () => {
  const { trail, part } = recorder();
  const group = createLifecycleGroup(
    [
      part('a'),
      part('b', {
        stop: async () => {
          throw new Error('b is stuck');
        },
      }),
      part('c', {
        start: async () => {
          throw new Error('c cannot start');
        },
      }),
      part('d'),
    ],
    { log },
  );
  await assert.rejects(group.start(), /c cannot start/);
  assert.deepEqual(group.running(), ['a', 'b']);
  await assert.rejects(group.stop(), /failed to stop: b/);
  assert.deepEqual(trail, ['start a', 'started a', 'start b', 'started b', 'start c', 'stop b', 'stop a']);
});

const FIXTURE = fileURLToPath(new URL('./fixtures/staged-process.ts', import.meta.url));

async function runFixture(args: string[]) {
  const child: ChildProcess = spawn(
    process.execPath,
    [await compiledEntry(FIXTURE), ...args],
    // The supervisor config needs its one required key; nothing else of the test's environment.
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HAL_AUTH_TOKEN: 'l'.repeat(40) },
    },
  );
  let stdout = '';
  child.stdout?.on('data', (b: Buffer) => {
    stdout += b.toString();
  });
  const done = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const messages = () =>
    stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { msg: string; component?: string });
  return { child, done, messages };
}

test('runtime process - SIGTERM while a part is starting: that part is stopped, later parts never start, exit 0', async (t) => {
  const proc = await runFixture(['--slow-start']);
  t.after(() => proc.child.kill('SIGKILL'));
  await waitFor(() => proc.messages().some((m) => m.msg === 'b is starting slowly'), {
    message: 'part b began starting',
  });
  proc.child.kill('SIGTERM');
  assert.equal(await proc.done, 0);
  const trail = proc.messages().map((m) => (m.component === undefined ? m.msg : `${m.msg} ${m.component}`));
  assert.deepEqual(trail, [
    'part started a',
    'b is starting slowly',
    'stopping',
    'part started b',
    'start abandoned: stopping c',
    'part stopped b',
    'part stopped a',
    'stopped',
  ]);
});

test('runtime process - a stop stuck past the deadline exits 1 and says so', async (t) => {
  const proc = await runFixture(['--stuck-stop']);
  t.after(() => proc.child.kill('SIGKILL'));
  await waitFor(() => proc.messages().some((m) => m.msg === 'started'), { message: 'the process started' });
  const sentAt = Date.now();
  proc.child.kill('SIGTERM');
  assert.equal(await proc.done, 1);
  const elapsed = Date.now() - sentAt;
  assert.ok(elapsed >= 450 && elapsed < 5_000, `exited ${elapsed} ms after SIGTERM (deadline 500 ms)`);
  const msgs = proc.messages().map((m) => m.msg);
  assert.ok(msgs.includes('shutdown did not finish in time; exiting'), msgs.join(' | '));
  assert.equal(msgs.includes('stopped'), false);
});

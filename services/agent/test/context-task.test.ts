import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { CONTEXT_TASK_LIMITS } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { createContextTasks, readContextTask } from '../src/context-task.ts';
import type { ProjectEvent } from '../src/opencode-events.ts';

// Real directories, attacker input: what a host's LLM can leave in .context/CURRENT_TASK.md.
const log = createLogger({ service: 'agent-test', level: 'silent' });

function project(t: { after(fn: () => void): void }) {
  const root = mkdtempSync(join(tmpdir(), 'hal-ctx-task-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'app');
  mkdirSync(join(dir, '.context'), { recursive: true });
  return { root, dir, file: join(dir, '.context', 'CURRENT_TASK.md') };
}

test('context task - the file is read, cleaned of escapes and control characters; missing or scaffold-only is no task', (t) => {
  const p = project(t);
  assert.deepEqual(readContextTask(p.dir, 'app'), { kind: 'none' });
  writeFileSync(
    p.file,
    '# Current task — app\n\nThe task in progress, the exact stop point and the last commit.\n\n',
  );
  assert.deepEqual(readContextTask(p.dir, 'app'), { kind: 'none' }, 'the scaffold is nobody’s task');
  writeFileSync(p.file, 'Lexer done\u001b[2J\u0007, parser next\u202e\r\nlast commit abc123\u0000\n');
  assert.deepEqual(readContextTask(p.dir, 'app'), {
    kind: 'task',
    text: 'Lexer done, parser next\nlast commit abc123',
  });
});

test('context task - a 10 MB file costs 16 KiB and is clipped with a marker', (t) => {
  const p = project(t);
  writeFileSync(p.file, 'x'.repeat(10 * 1024 * 1024));
  const r = readContextTask(p.dir, 'app');
  assert.equal(r.kind, 'task');
  const text = r.kind === 'task' ? r.text : '';
  assert.equal(text.length, CONTEXT_TASK_LIMITS.chars);
  assert.ok(text.endsWith('[…clipped]'));
});

test('context task - symlinks out of the project, a symlinked .context/ and a directory are refused, never followed', (t) => {
  const p = project(t);
  const secret = join(p.root, 'secret.txt');
  writeFileSync(secret, 'root password hunter2\n');
  symlinkSync(secret, p.file);
  const link = readContextTask(p.dir, 'app');
  assert.equal(link.kind, 'refused');
  assert.match(link.kind === 'refused' ? link.detail : '', /symbolic link/);

  const other = project(t);
  const outside = join(other.root, 'elsewhere');
  mkdirSync(outside);
  writeFileSync(join(outside, 'CURRENT_TASK.md'), 'not this project');
  rmSync(join(other.dir, '.context'), { recursive: true });
  symlinkSync(outside, join(other.dir, '.context'));
  const dirLink = readContextTask(other.dir, 'app');
  assert.equal(dirLink.kind, 'refused');
  assert.match(dirLink.kind === 'refused' ? dirLink.detail : '', /outside the project/);

  const dir = project(t);
  mkdirSync(dir.file);
  const d = readContextTask(dir.dir, 'app');
  assert.equal(d.kind, 'refused');
  assert.match(d.kind === 'refused' ? d.detail : '', /not a regular file/);
});

test('context task - reported per session on its events, once per text; other projects and events are not looked at', async (t) => {
  const p = project(t);
  const events: ProjectEvent[] = [];
  const tasks = createContextTasks({
    projects: [{ name: 'app', directory: p.dir }],
    log,
    emit: (e) => events.push(...e),
  });
  const tasksOf = () => events.filter((e) => e.type === 'session.task');
  tasks.observe({ project: 'app', session: 's1', type: 'session.created' });
  await new Promise((r) => setImmediate(r));
  assert.equal(tasksOf().length, 0, 'no file, no task');
  writeFileSync(p.file, 'Stopped at the lexer');
  tasks.observe({ project: 'app', session: 's1', type: 'message.part' });
  tasks.observe({ project: 'other', session: 's9', type: 'session.idle' });
  await new Promise((r) => setImmediate(r));
  assert.equal(tasksOf().length, 0);
  tasks.observe({ project: 'app', session: 's1', type: 'session.idle' });
  tasks.observe({ project: 'app', session: 's1', type: 'session.busy' });
  tasks.observe({ project: 'app', session: 's2', type: 'session.created' });
  await waitFor(() => tasksOf().length === 2);
  assert.deepEqual(
    tasksOf().map((e) => [e.session, e.data]),
    [
      ['s1', { task: 'Stopped at the lexer', file: '.context/CURRENT_TASK.md' }],
      ['s2', { task: 'Stopped at the lexer', file: '.context/CURRENT_TASK.md' }],
    ],
  );
  writeFileSync(p.file, 'Parser done, tests next');
  tasks.observe({ project: 'app', session: 's1', type: 'session.idle' });
  await waitFor(() => tasksOf().length === 3);
  assert.equal(tasksOf()[2]?.data.task, 'Parser done, tests next');
});

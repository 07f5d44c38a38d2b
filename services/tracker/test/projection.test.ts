import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openDatabase } from '@hal/db';
import { createLogger } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { migrationsFolder } from '../src/migrations.ts';
import { createProjection, type RawEvent } from '../src/projection.ts';
import { createTrackerQueries } from '../src/queries.ts';
import * as schema from '../src/schema.ts';
import { eventFactory, usage } from './event-factory.ts';

async function setup(t: { after(fn: () => Promise<void> | void): void }) {
  const dir = await mkdtemp(join(tmpdir(), 'hal-tracker-proj-'));
  const database = openDatabase({ file: join(dir, 'tracker.sqlite'), migrationsFolder, schema });
  t.after(async () => {
    database.close();
    await rm(dir, { recursive: true, force: true });
  });
  const projection = createProjection(database.sqlite);
  let streamSeq = 0;
  const apply = (...events: Array<EventRecord | string>) =>
    projection.applyBatch(
      events.map(
        (e): RawEvent => ({ streamSeq: ++streamSeq, data: typeof e === 'string' ? e : JSON.stringify(e) }),
      ),
    );
  return {
    projection,
    apply,
    sqlite: database.sqlite,
    session: (id: string) => projection.store.getSession(id),
  };
}

test('projection - session lifecycle through running, waiting_input, idle and killed', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  apply(ev('session.created', 's1', { title: 'Fix bug', directory: '/p' }));
  assert.equal(session('s1')?.state, 'starting');
  assert.equal(session('s1')?.title, 'Fix bug');
  apply(ev('session.busy', 's1'));
  assert.equal(session('s1')?.state, 'running');
  apply(ev('permission.asked', 's1', { permission_id: 'perm1', permission: 'bash' }));
  assert.equal(session('s1')?.state, 'waiting_input');
  assert.equal(session('s1')?.pending_permissions, '["perm1"]');
  apply(ev('permission.replied', 's1', { permission_id: 'perm1', response: 'once' }));
  assert.equal(session('s1')?.state, 'running');
  assert.equal(session('s1')?.pending_permissions, '[]');
  apply(ev('session.idle', 's1'));
  assert.equal(session('s1')?.state, 'idle');
  apply(
    ev('session.busy', 's1'),
    ev('session.error', 's1', { kind: 'MessageAbortedError' }),
    ev('session.idle', 's1'),
  );
  assert.equal(session('s1')?.state, 'killed');
  assert.equal(session('s1')?.errors, 0);
});

test('projection - errors, retries and compactions are counted and the error stays visible after idle', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  apply(
    ev('session.busy', 's1'),
    ev('session.retry', 's1', { attempt: 2, message: 'rate limited' }),
    ev('session.compacted', 's1'),
    ev('session.error', 's1', { kind: 'APIError', message: 'boom' }),
    ev('session.idle', 's1'),
  );
  const row = session('s1');
  assert.equal(row?.state, 'error');
  assert.equal(row?.errors, 1);
  assert.equal(row?.compactions, 1);
  assert.equal(row?.last_error, 'APIError: boom');
  apply(ev('session.busy', 's1'), ev('session.deleted', 's1'));
  assert.equal(session('s1')?.state, 'completed');
});

test('projection - a repeated message.completed replaces its figures instead of adding them', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  const done = (id: string, input: number, output: number, cost: number, model = 'gpt-x') =>
    ev('message.completed', 's1', {
      message_id: id,
      model,
      provider: 'openai',
      tokens: usage(input, output, 5),
      cost_usd: cost,
    });
  apply(done('m1', 100, 10, 0.5), done('m2', 200, 20, 0.25));
  apply(done('m1', 100, 10, 0.5));
  apply(done('m2', 300, 30, 0.75, 'gpt-y'));
  const row = session('s1');
  assert.equal(row?.tokens_input, 400);
  assert.equal(row?.tokens_output, 40);
  assert.equal(row?.tokens_cache_read, 10);
  assert.equal(row?.cost_usd, 1.25);
  assert.equal(row?.model, 'gpt-y');
  assert.equal(row?.provider, 'openai');
});

test('projection - log keeps text and tool parts in order and the first user prompt is the task', async (t) => {
  const { apply, session, sqlite } = await setup(t);
  const ev = eventFactory();
  const part = (messageId: string, partId: string, role: string, partType: string, extra = {}) =>
    ev('message.part', 's1', { message_id: messageId, part_id: partId, role, part_type: partType, ...extra });
  apply(
    part('u1', 'p1', 'user', 'text', { text: 'Write tests' }),
    part('a1', 'p2', 'assistant', 'step-start'),
    part('a1', 'p3', 'assistant', 'text', { text: 'Sure' }),
    part('a1', 'p4', 'assistant', 'tool', { tool: 'bash', tool_status: 'running' }),
    part('a1', 'p4', 'assistant', 'tool', { tool: 'bash', tool_status: 'completed' }),
    part('u2', 'p5', 'user', 'text', { text: 'Also lint' }),
  );
  const rows = sqlite
    .prepare('select part_id, kind, text, tool_status from session_log order by stream_seq')
    .all();
  assert.deepEqual(rows, [
    { part_id: 'p1', kind: 'text', text: 'Write tests', tool_status: null },
    { part_id: 'p3', kind: 'text', text: 'Sure', tool_status: null },
    { part_id: 'p4', kind: 'tool', text: null, tool_status: 'completed' },
    { part_id: 'p5', kind: 'text', text: 'Also lint', tool_status: null },
  ]);
  assert.equal(session('s1')?.current_task, 'Write tests');
});

test('projection - CURRENT_TASK.md (session.task) wins over the first prompt as the current task, before or after it', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  const task = (text: string) => ({ task: text, file: '.context/CURRENT_TASK.md' });
  const prompt = (s: string, id: string, text: string) =>
    ev('message.part', s, { message_id: id, part_id: `${id}-p`, role: 'user', part_type: 'text', text });
  apply(ev('session.created', 's1', {}), prompt('s1', 'u1', 'Write the parser'));
  assert.equal(session('s1')?.current_task, 'Write the parser');
  apply(ev('session.task', 's1', task('Stopped at the lexer, commit abc123')));
  assert.equal(session('s1')?.current_task, 'Stopped at the lexer, commit abc123');
  apply(prompt('s1', 'u2', 'Also lint'), ev('session.task', 's1', task('Lexer and parser done')));
  assert.equal(session('s1')?.current_task, 'Lexer and parser done');
  // A new session that reads the file before its first prompt arrives keeps the file's task.
  apply(ev('session.created', 's2', {}), ev('session.task', 's2', task('Continue at the parser')));
  apply(prompt('s2', 'u3', 'This session continues session s1…'));
  assert.equal(session('s2')?.current_task, 'Continue at the parser');
  // Malformed data is refused, the row unchanged.
  apply(ev('session.task', 's2', { task: '' }));
  assert.equal(session('s2')?.current_task, 'Continue at the parser');
});

test('projection - node offline makes live sessions unreachable; a snapshot restores and completes', async (t) => {
  const { apply, session, projection } = await setup(t);
  const ev = eventFactory();
  apply(
    ev('node.online', null, {
      agent_version: '1.0.0',
      projects: [{ name: 'proj', directory: '/p' }],
      gateway: 'gw1',
    }),
    ev('session.busy', 's1'),
    ev('session.idle', 's2'),
    ev('session.busy', 's3'),
    ev('session.deleted', 's4'),
    ev('node.offline', null, { reason: 'socket_closed' }),
  );
  assert.deepEqual(
    ['s1', 's2', 's3', 's4'].map((s) => session(s)?.state),
    ['unreachable', 'unreachable', 'unreachable', 'completed'],
  );
  assert.equal(projection.store.statements.getNode.get('node-a')?.status, 'offline');
  apply(
    ev('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw2' }),
    ev('node.snapshot', null, {
      sessions: [
        { session: 's1', project: 'proj', state: 'waiting_input', pending_permissions: ['p9'] },
        { session: 's2', project: 'proj', state: 'idle', title: 'Two' },
      ],
    }),
  );
  assert.deepEqual(
    ['s1', 's2', 's3', 's4'].map((s) => session(s)?.state),
    ['waiting_input', 'idle', 'completed', 'completed'],
  );
  assert.equal(session('s1')?.pending_permissions, '["p9"]');
  assert.equal(session('s2')?.title, 'Two');
});

test('projection - a session back from unreachable in the same state keeps how long it has been in it', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  const online = ev('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw1' });
  const idle = ev('session.idle', 's1');
  const busy = ev('session.busy', 's2');
  apply(online, idle, busy, ev('node.offline', null, { reason: 'gateway_stopped' }));
  assert.equal(session('s1')?.state, 'unreachable');
  // A supervisor restart: the node comes back, then its snapshot says what it says before.
  const snapshot = ev('node.snapshot', null, {
    sessions: [
      { session: 's1', project: 'proj', state: 'idle' },
      { session: 's2', project: 'proj', state: 'idle' },
    ],
  });
  apply(ev('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw1' }), snapshot);
  assert.deepEqual(
    ['s1', 's2'].map((s) => [session(s)?.state, session(s)?.state_since]),
    [
      // Idle before and after: idle since the first session.idle, not since the restart.
      ['idle', idle.time],
      // Busy before, idle now: it finished while the node was away, idle since the snapshot.
      ['idle', snapshot.time],
    ],
  );
  assert.ok(busy.time < snapshot.time);
});

test('projection - a reconnect snapshot saying idle does not undo killed or error, nor the model', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  apply(
    ev('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw1' }),
    ev('message.completed', 's1', {
      message_id: 'm1',
      model: 'fake-model',
      provider: 'fake',
      tokens: usage(10, 2),
      cost_usd: 0,
    }),
    ev('session.error', 's1', { kind: 'MessageAbortedError' }),
    ev('session.error', 's2', { kind: 'APIError', message: 'boom' }),
    ev('session.busy', 's3'),
    ev('node.offline', null, { reason: 'socket_closed' }),
    ev('node.online', null, { agent_version: '1.0.0', projects: [], gateway: 'gw2' }),
    ev('node.snapshot', null, {
      sessions: [
        { session: 's1', project: 'proj', state: 'idle', model: 'fake/fake-model' },
        { session: 's2', project: 'proj', state: 'idle' },
        { session: 's3', project: 'proj', state: 'idle' },
      ],
    }),
  );
  assert.deepEqual(
    ['s1', 's2', 's3'].map((s) => session(s)?.state),
    ['killed', 'error', 'idle'],
  );
  assert.equal(session('s1')?.model, 'fake-model');
});

test('projection - an aborted message without a session.error still marks the session killed', async (t) => {
  const { apply, session } = await setup(t);
  const ev = eventFactory();
  apply(
    ev('session.busy', 's1'),
    ev('message.completed', 's1', {
      message_id: 'm1',
      model: 'fake-model',
      provider: 'fake',
      tokens: usage(10, 0),
      cost_usd: 0,
      error: 'MessageAbortedError',
    }),
    ev('session.idle', 's1'),
  );
  assert.equal(session('s1')?.state, 'killed');
  assert.equal(session('s1')?.errors, 0);
});

test('projection - replays, duplicate ids and unparseable payloads change nothing', async (t) => {
  const { apply, session, projection } = await setup(t);
  const ev = eventFactory();
  const busy = ev('session.compacted', 's1');
  const r1 = apply(busy, '{not json', JSON.stringify({ ...busy, id: 'nope' }), busy);
  assert.equal(r1.applied, 1);
  assert.equal(r1.duplicates, 1);
  assert.deepEqual(
    r1.rejected.map((r) => r.streamSeq),
    [2, 3],
  );
  assert.match(r1.rejected[0]?.reason ?? '', /^not JSON/);
  assert.equal(session('s1')?.compactions, 1);
  assert.equal(projection.appliedSeq(), 4);
  // The same stream sequences again (a redelivery after a crash before the acks): all skipped.
  const r2 = projection.applyBatch([{ streamSeq: 1, data: JSON.stringify(busy) }]);
  assert.equal(r2.duplicates, 1);
  assert.equal(session('s1')?.compactions, 1);
  // Data that does not fit its type: indexed, counted as rejected, tables untouched.
  const bad = apply(ev('session.error', 's1', { message: 'no kind' }));
  assert.equal(bad.rejected.length, 1);
  assert.equal(session('s1')?.errors, 0);
});

test('projection - each state change is stamped with its event time; a restart links the hand-off both ways', async (t) => {
  const { apply, sqlite } = await setup(t);
  const queries = createTrackerQueries({
    nc: undefined as never, // handlers are called directly; start() is never called
    sqlite,
    log: createLogger({ service: 'tracker-test', level: 'silent' }),
    onCorruptRow: () => undefined,
  });
  const get = (session: string) => queries.handlers.sessions_get({ session });
  const ev = eventFactory();
  const created = ev('session.created', 's1', { title: 'Landing page' });
  const busy = ev('session.busy', 's1');
  const asked = ev('permission.asked', 's1', { permission_id: 'p1', permission: 'bash' });
  const part = ev('message.part', 's1', { message_id: 'm1', part_id: 'x', part_type: 'text', text: 'hi' });
  apply(created, busy, asked, part);
  // Waiting since the permission was asked, not since the later part.
  assert.equal(get('s1').state, 'waiting_input');
  assert.equal(get('s1').state_since, asked.time);
  assert.equal(get('s1').previous_session, null);

  const restart = ev('command.executed', 's1', {
    command_type: 'restart',
    command_id: 'c1',
    actor: { kind: 'user', id: 'otto' },
    session: 's1',
    ok: true,
    result_session: 's2',
    duration_ms: 12,
  });
  apply(
    restart,
    ev('session.created', 's2', { title: 'Landing page (restarted)' }),
    ev('session.busy', 's2'),
  );
  assert.equal(get('s2').previous_session, 's1');
  assert.equal(get('s1').next_session, 's2');
  assert.equal(get('s2').next_session, null);
  // A failed restart links nothing.
  apply(
    ev('command.executed', 's2', {
      ...restart.data,
      session: 's2',
      result_session: 's3',
      ok: false,
      code: 'TIMEOUT',
    }),
  );
  assert.equal(get('s2').next_session, null);

  const summary = queries.handlers.sessions_summary({});
  assert.equal(summary.total, 2);
  assert.equal(summary.by_state.waiting_input, 1);
  assert.equal(summary.by_state.running, 1);
  assert.equal(summary.by_state.killed, 0);

  const search = (q: string) =>
    queries.handlers
      .sessions_list({ q, limit: 50 })
      .sessions.map((s) => s.session)
      .sort();
  assert.deepEqual(search('restarted'), ['s2']);
  assert.deepEqual(search('LANDING'), ['s1', 's2']);
  assert.deepEqual(search('s1'), ['s1']);
  // LIKE wildcards typed by a person are plain characters.
  assert.deepEqual(search('%'), []);
  assert.deepEqual(search('_'), []);
});

test("projection - a completed hand-off links old and new session; a host cannot link another node's session", async (t) => {
  const { apply, sqlite } = await setup(t);
  const queries = createTrackerQueries({
    nc: undefined as never, // handlers are called directly; start() is never called
    sqlite,
    log: createLogger({ service: 'tracker-test', level: 'silent' }),
    onCorruptRow: () => undefined,
  });
  const get = (session: string) => queries.handlers.sessions_get({ session });
  const a = eventFactory('node-a', 'proj');
  const b = eventFactory('node-b', 'other');
  apply(a('session.created', 'old', { title: 'work' }), b('session.created', 'theirs', { title: 'x' }));
  apply(
    a('handoff.started', 'old', { handoff_id: 'ho_1', wait_idle_ms: 60_000 }),
    a('handoff.completed', 'old', { handoff_id: 'ho_1', session: 'new', went_idle: true, waited_ms: 900 }),
  );
  // The new session may be reported after the hand-off: the link is there already.
  assert.equal(get('new').previous_session, 'old');
  assert.equal(get('new').node, 'node-a');
  assert.equal(get('old').next_session, 'new');
  apply(a('session.created', 'new', { title: 'work (handed off)' }));
  assert.equal(get('new').previous_session, 'old');

  // node-a claims node-b's session as its hand-off's new session: nothing is linked or moved.
  apply(
    a('handoff.completed', 'new', { handoff_id: 'ho_2', session: 'theirs', went_idle: false, waited_ms: 1 }),
  );
  assert.equal(get('theirs').previous_session, null);
  assert.equal(get('theirs').node, 'node-b');
  assert.equal(get('new').next_session, null);
  // Data that does not fit is rejected, not applied.
  const bad = apply(a('handoff.completed', 'old', { handoff_id: 'ho 3', session: 'x' }));
  assert.equal(bad.rejected.length, 1);
});

test('projection - a session never moves to another node: its events and snapshot entries from another node change nothing', async (t) => {
  const { apply, session, sqlite } = await setup(t);
  const owner = eventFactory('node-a', 'web');
  const other = eventFactory('node-b', 'evil');
  apply(owner('session.created', 's1', { title: 'real work' }), owner('session.busy', 's1'));
  const result = apply(
    other('session.idle', 's1'),
    other('session.error', 's1', { kind: 'APIError', message: 'forged' }),
    other('node.snapshot', null, { sessions: [{ session: 's1', project: 'evil', state: 'completed' }] }),
  );
  assert.deepEqual(
    result.rejected.map((r) => r.reason),
    [
      'session "s1" belongs to node "node-a"; the report of node "node-b" is ignored',
      'session "s1" belongs to node "node-a"; the report of node "node-b" is ignored',
    ],
  );
  const s1 = session('s1');
  assert.equal(s1?.node, 'node-a');
  assert.equal(s1?.project, 'web');
  assert.equal(s1?.state, 'running');
  assert.equal(s1?.errors, 0);
  // The forged events are indexed as the stream holds them, but not under the session.
  const underSession = sqlite.prepare('select count(*) as n from events where session = ?').get('s1') as {
    n: number;
  };
  assert.equal(underSession.n, 2);
});

import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { ErrorCode, type HalError } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import Database from 'better-sqlite3';
import { eventFactory, usage } from './event-factory.ts';
import { manualClock, metricValue, startStack } from './stack.ts';

const online = {
  agent_version: '1.2.3',
  projects: [{ name: 'proj', directory: '/srv/proj' }],
  gateway: 'gw-1',
};
const part = (message: string, partId: string, role: string, partType: string, extra = {}) => ({
  message_id: message,
  part_id: partId,
  role,
  part_type: partType,
  ...extra,
});
const completed = (message: string, input: number, output: number, cost: number) => ({
  message_id: message,
  model: 'gpt-5',
  provider: 'openai',
  tokens: usage(input, output, 7),
  cost_usd: cost,
});

/** A node with one session that asked for a permission, got it, answered, used tokens and was killed. */
function lifecycle(ev: ReturnType<typeof eventFactory>) {
  return {
    first: [
      ev('node.online', null, online),
      ev('session.created', 's1', { title: 'Fix the parser', directory: '/srv/proj' }),
      ev('message.part', 's1', part('u1', 'p1', 'user', 'text', { text: 'Fix the parser please' })),
      ev('session.busy', 's1'),
      ev('message.part', 's1', part('a1', 'p2', 'assistant', 'text', { text: 'Looking at it.' })),
      ev(
        'message.part',
        's1',
        part('a1', 'p3', 'assistant', 'tool', { tool: 'bash', tool_status: 'running' }),
      ),
      ev('permission.asked', 's1', { permission_id: 'perm-1', permission: 'bash' }),
    ],
    second: [
      ev('permission.replied', 's1', { permission_id: 'perm-1', response: 'once' }),
      ev(
        'message.part',
        's1',
        part('a1', 'p3', 'assistant', 'tool', { tool: 'bash', tool_status: 'completed' }),
      ),
      ev('message.completed', 's1', completed('a1', 1000, 200, 0.25)),
      ev('message.completed', 's1', completed('a1', 1000, 200, 0.25)),
      ev('message.completed', 's1', completed('a2', 500, 50, 0.125)),
      ev('session.idle', 's1'),
      ev('session.busy', 's1'),
      ev('session.error', 's1', { kind: 'MessageAbortedError', message: 'aborted' }),
      ev('session.idle', 's1'),
    ],
  };
}

test('tracker - a session moves through its states and the queries show tokens, log and events', async (t) => {
  const stack = await startStack(t);
  const { registry } = await stack.tracker();
  const ev = eventFactory();
  const { first, second } = lifecycle(ev);
  await stack.publish(...first);
  const waiting = await waitFor(async () => {
    const s = await stack.query('sessions_get', { session: 's1' });
    return s.state === 'waiting_input' ? s : undefined;
  });
  assert.deepEqual(waiting.pending_permissions, ['perm-1']);
  assert.equal(waiting.current_task, 'Fix the parser please');
  const last = await stack.publish(...second);
  const s1 = await waitFor(async () => {
    const s = await stack.query('sessions_get', { session: 's1' });
    return s.last_activity_at === second.at(-1)?.time ? s : undefined;
  });
  assert.equal(s1.state, 'killed');
  assert.deepEqual(s1.tokens, { input: 1500, output: 250, reasoning: 0, cache_read: 14, cache_write: 0 });
  assert.equal(s1.cost_usd, 0.375);
  assert.equal(s1.model, 'gpt-5');
  assert.equal(s1.title, 'Fix the parser');
  assert.equal(s1.errors, 0);
  assert.deepEqual(s1.pending_permissions, []);

  const logs = await stack.query('sessions_logs', { session: 's1' });
  assert.deepEqual(
    logs.entries.map((e) => [e.role, e.kind, e.text, e.tool, e.tool_status]),
    [
      ['user', 'text', 'Fix the parser please', null, null],
      ['assistant', 'text', 'Looking at it.', null, null],
      ['assistant', 'tool', null, 'bash', 'completed'],
    ],
  );
  const node = await stack.query('nodes_get', { node: 'node-a' });
  assert.equal(node.status, 'online');
  assert.equal(node.agent_version, '1.2.3');
  assert.equal(node.sessions, 1);
  assert.deepEqual(node.projects, online.projects);

  const all = await stack.query('events_list', { session: 's1', limit: 1000 });
  assert.equal(all.events.length, first.length + second.length - 1);
  assert.equal(all.next_after_seq, null);
  const errors = await stack.query('events_list', { type: 'session.*', after_seq: last - 3 });
  assert.deepEqual(
    errors.events.map((e) => e.type),
    ['session.busy', 'session.error', 'session.idle'],
  );
  const page = await stack.query('events_list', { type: '>', limit: 2 });
  assert.equal(page.events.length, 2);
  assert.equal(page.next_after_seq, page.events[1]?.stream_seq);

  await waitFor(
    async () => (await metricValue(registry, 'hal_o_swarm_sessions_active', { state: 'killed' })) === 1,
  );
  assert.equal(await metricValue(registry, 'hal_o_swarm_nodes_online'), 1);
});

test('tracker - restart, a deleted database and --rebuild all give the same answers without double counting', async (t) => {
  const stack = await startStack(t);
  const dataDir = join(stack.dir, 'restart');
  let { tracker } = await stack.tracker({ dataDir });
  const ev = eventFactory();
  const { first, second } = lifecycle(ev);
  await stack.publish(...first, ...second.slice(0, 3));
  await waitFor(async () => (await stack.query('sessions_get', { session: 's1' })).tokens.input === 1000);
  await tracker.stop();
  // Events published while the tracker is down are applied when it comes back.
  const last = await stack.publish(...second.slice(3));
  ({ tracker } = await stack.tracker({ dataDir }));
  await waitFor(() => tracker.appliedSeq() === last);
  const answers = async () => ({
    session: await stack.query('sessions_get', { session: 's1' }),
    logs: await stack.query('sessions_logs', { session: 's1' }),
    list: await stack.query('sessions_list', {}),
    events: await stack.query('events_list', { limit: 1000 }),
    node: { ...(await stack.query('nodes_get', { node: 'node-a' })), online_since: null },
  });
  const before = await answers();
  assert.equal(before.session.tokens.input, 1500);
  assert.equal(before.session.state, 'killed');

  await tracker.stop();
  await rm(join(dataDir, 'tracker.sqlite'));
  ({ tracker } = await stack.tracker({ dataDir }));
  await waitFor(() => tracker.appliedSeq() === last);
  assert.deepEqual(await answers(), before);

  await tracker.stop();
  ({ tracker } = await stack.tracker({ dataDir, rebuild: true }));
  await waitFor(() => tracker.appliedSeq() === last);
  assert.deepEqual(await answers(), before);

  // A file that is not a database is moved aside and rebuilt, counted as a recovery error.
  await tracker.stop();
  await writeFile(join(dataDir, 'tracker.sqlite'), 'this is not a sqlite file, just text '.repeat(200));
  await rm(join(dataDir, 'tracker.sqlite-wal'), { force: true });
  const rebuilt = await stack.tracker({ dataDir });
  const registry = rebuilt.registry;
  tracker = rebuilt.tracker;
  await waitFor(() => tracker.appliedSeq() === last);
  assert.deepEqual(await answers(), before);
  assert.equal(await metricValue(registry, 'hal_o_swarm_recovery_errors_total', { component: 'tracker' }), 1);
});

test('tracker - a corrupt stream message or row is skipped and counted, and what follows is applied', async (t) => {
  const stack = await startStack(t);
  const dataDir = join(stack.dir, 'corrupt');
  const { tracker, registry } = await stack.tracker({ dataDir });
  const ev = eventFactory();
  await stack.publish(ev('session.busy', 's1'), ev('session.busy', 's2'));
  await stack.js.publish('hal.evt.x.y.session.idle', '{"this is": not json');
  const last = await stack.publish(ev('session.idle', 's1'), ev('session.compacted', 's2'));
  await waitFor(() => tracker.appliedSeq() === last);
  assert.equal((await stack.query('sessions_get', { session: 's1' })).state, 'idle');
  assert.equal((await stack.query('sessions_get', { session: 's2' })).state, 'compacted');
  assert.equal(await metricValue(registry, 'hal_o_swarm_recovery_errors_total', { component: 'tracker' }), 1);

  const side = new Database(join(dataDir, 'tracker.sqlite'));
  side.prepare("update sessions set pending_permissions = '{broken' where session = 's2'").run();
  side.close();
  const list = await stack.query('sessions_list', {});
  assert.deepEqual(
    list.sessions.map((s) => s.session),
    ['s1'],
  );
  await assert.rejects(stack.query('sessions_get', { session: 's2' }), { code: ErrorCode.SESSION_NOT_FOUND });
  assert.equal(await metricValue(registry, 'hal_o_swarm_recovery_errors_total', { component: 'tracker' }), 3);
});

test('tracker - a silent node goes offline with its sessions unreachable, and a snapshot restores them', async (t) => {
  const stack = await startStack(t);
  const clock = manualClock();
  const { registry } = await stack.tracker({
    clock,
    livenessCheckIntervalMs: 20,
    config: {
      data_dir: join(stack.dir, 'live'),
      heartbeat_interval_sec: 1,
      heartbeat_timeout_count: 3,
      security: { audit: { retention_days: 90 } },
    },
  });
  // The events happened before the clock's now, as stored events do.
  const ev = eventFactory('node-a', 'proj', clock.now() - 60_000);
  await stack.publish(ev('node.online', null, online), ev('session.busy', 's1'), ev('session.idle', 's2'));
  const beat = {
    node: 'node-a',
    gateway: 'gw-1',
    time: new Date().toISOString(),
    load: [0.5, 0.4, 0.3],
    mem_total_bytes: 8e9,
    mem_free_bytes: 4e9,
    opencode_ok: true,
    sessions: 2,
    spool_depth: 0,
  };
  stack.nc.publish('hal.hb.node-a', JSON.stringify(beat));
  const node = await waitFor(async () => {
    const n = await stack.query('nodes_get', { node: 'node-a' });
    return n.resources !== null ? n : undefined;
  });
  assert.equal(node.resources?.mem_free_bytes, 4e9);
  assert.equal(node.last_heartbeat_at, new Date(clock.now()).toISOString());
  await waitFor(async () => (await stack.query('sessions_get', { session: 's2' })).state === 'idle');

  clock.advance(2_900);
  stack.nc.publish('hal.hb.node-a', 'not json'); // ignored, never fatal
  await stack.nc.flush();
  assert.equal((await stack.query('nodes_get', { node: 'node-a' })).status, 'online');
  clock.advance(200); // 3.1 s since the last beat: three missed, and no node.offline was ever published
  await waitFor(async () => (await stack.query('nodes_get', { node: 'node-a' })).status === 'offline');
  const states = async () =>
    (await stack.query('sessions_list', {})).sessions.map((s) => [s.session, s.state]).sort();
  assert.deepEqual(await states(), [
    ['s1', 'unreachable'],
    ['s2', 'unreachable'],
  ]);
  await waitFor(
    async () => (await metricValue(registry, 'hal_o_swarm_sessions_active', { state: 'unreachable' })) === 2,
  );
  assert.equal(await metricValue(registry, 'hal_o_swarm_nodes_online'), 0);

  // The node reconnects now: alive again, however old its last heartbeat (a liveness check in
  // between must not take it offline again).
  const now = new Date(clock.now()).toISOString();
  await stack.publish(
    ev('node.online', null, online, { time: now }),
    ev(
      'node.snapshot',
      null,
      { sessions: [{ session: 's1', project: 'proj', state: 'waiting_input' }] },
      { time: now },
    ),
  );
  await waitFor(
    async () =>
      JSON.stringify(await states()) ===
      JSON.stringify([
        ['s1', 'waiting_input'],
        ['s2', 'completed'],
      ]),
  );
  // Longer than several liveness checks (every 20 ms), still inside the heartbeat timeout.
  await new Promise((resolve) => setTimeout(resolve, 200));
  assert.equal((await stack.query('nodes_get', { node: 'node-a' })).status, 'online');
});

test('tracker - the node view shows the clock skew its last heartbeat carried, null without one', async (t) => {
  const stack = await startStack(t);
  await stack.tracker({ dataDir: join(stack.dir, 'skew') });
  const ev = eventFactory();
  await stack.publish(ev('node.online', null, online));
  const beat = (extra: Record<string, unknown>) =>
    JSON.stringify({
      node: 'node-a',
      gateway: 'gw-1',
      time: new Date().toISOString(),
      load: [0.1],
      mem_total_bytes: 8e9,
      mem_free_bytes: 4e9,
      opencode_ok: true,
      sessions: 0,
      spool_depth: 3,
      ...extra,
    });
  await waitFor(async () => (await stack.query('nodes_get', { node: 'node-a' })).status === 'online');
  assert.equal((await stack.query('nodes_get', { node: 'node-a' })).clock_skew_ms, null);
  stack.nc.publish('hal.hb.node-a', beat({ clock_skew_ms: -600_000 }));
  const node = await waitFor(async () => {
    const n = await stack.query('nodes_get', { node: 'node-a' });
    return n.clock_skew_ms !== null ? n : undefined;
  });
  assert.equal(node.clock_skew_ms, -600_000);
  assert.deepEqual(node.resources, {
    load: [0.1],
    mem_total_bytes: 8e9,
    mem_free_bytes: 4e9,
    opencode_ok: true,
    spool_depth: 3,
  });
  const listed = await stack.query('nodes_list', {});
  assert.deepEqual(
    listed.nodes.map((n) => [n.node, n.clock_skew_ms]),
    [['node-a', -600_000]],
  );
});

test('tracker - bad queries and unknown ids get stable error codes', async (t) => {
  const stack = await startStack(t);
  await stack.tracker();
  const code = (err: unknown) => (err as HalError).code;
  await assert.rejects(
    stack.query('sessions_list', { limit: 0 }),
    (err) => code(err) === ErrorCode.VALIDATION_FAILED,
  );
  await assert.rejects(
    stack.query('sessions_list', { state: 'sleeping' as never }),
    (err: HalError) => err.code === ErrorCode.VALIDATION_FAILED && /state/.test(err.message),
  );
  await assert.rejects(stack.query('sessions_list', { cursor: 'garbage' }), {
    code: ErrorCode.VALIDATION_FAILED,
    message: 'invalid cursor: use next_cursor of the previous page',
  });
  await assert.rejects(stack.query('events_list', { type: 'Session..idle' }), {
    code: ErrorCode.VALIDATION_FAILED,
  });
  await assert.rejects(stack.query('sessions_get', { session: 'nope' }), {
    code: ErrorCode.SESSION_NOT_FOUND,
    message: 'session "nope" is not known',
  });
  await assert.rejects(stack.query('sessions_logs', { session: 'nope' }), {
    code: ErrorCode.SESSION_NOT_FOUND,
  });
  await assert.rejects(stack.query('nodes_get', { node: 'ghost' }), {
    code: ErrorCode.NODE_NOT_FOUND,
    message: 'node "ghost" is not known',
  });
});

test('tracker - pagination over 120 sessions visits each exactly once, newest first', async (t) => {
  const stack = await startStack(t);
  const { tracker } = await stack.tracker();
  const ev = eventFactory();
  const events = [];
  // Pairs of sessions share an activity time, so the id breaks ties across page boundaries.
  for (let i = 0; i < 120; i++) {
    const e = ev('session.busy', `s-${String(i).padStart(3, '0')}`);
    events.push({
      ...e,
      time: new Date(Date.parse('2026-11-20T10:00:00Z') + Math.floor(i / 2) * 1000).toISOString(),
    });
  }
  const last = await stack.publish(...events);
  await waitFor(() => tracker.appliedSeq() === last);
  const seen: string[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 20; pages++) {
    const page = await stack.query('sessions_list', {
      limit: 7,
      ...(cursor === undefined ? {} : { cursor }),
    });
    assert.equal(page.total, 120);
    seen.push(...page.sessions.map((s) => s.session));
    if (page.next_cursor === null) break;
    cursor = page.next_cursor;
  }
  assert.equal(seen.length, 120);
  assert.equal(new Set(seen).size, 120);
  assert.deepEqual(seen.slice(0, 3), ['s-118', 's-119', 's-116']);
  const filtered = await stack.query('sessions_list', {
    state: 'running',
    node: 'node-a',
    project: 'proj',
    limit: 500,
  });
  assert.equal(filtered.sessions.length, 120);
  assert.equal(filtered.next_cursor, null);
  assert.equal((await stack.query('sessions_list', { node: 'other' })).total, 0);
});

test('tracker - two instances share the queries, each request answered once', async (t) => {
  const stack = await startStack(t);
  const a = await stack.tracker({ dataDir: join(stack.dir, 'a'), consumerName: 'hal-tracker-a' });
  const b = await stack.tracker({ dataDir: join(stack.dir, 'b'), consumerName: 'hal-tracker-b' });
  const ev = eventFactory();
  const last = await stack.publish(ev('session.created', 's1', { title: 'shared' }));
  await waitFor(() => a.tracker.appliedSeq() === last && b.tracker.appliedSeq() === last);
  // Mark instance b's copy so an answer tells which instance gave it.
  const side = new Database(join(stack.dir, 'b', 'tracker.sqlite'));
  side.prepare("update sessions set title = 'from b'").run();
  side.close();
  const titles = new Set<string | null>();
  for (let i = 0; i < 40; i++) titles.add((await stack.query('sessions_get', { session: 's1' })).title);
  assert.deepEqual([...titles].sort(), ['from b', 'shared']);
  for (let i = 0; i < 5; i++) {
    let replies = 0;
    for await (const _ of await stack.nc.requestMany(
      'hal.q.tracker.sessions_get',
      JSON.stringify({ session: 's1' }),
      {
        maxWait: 150,
      },
    )) {
      replies++;
    }
    assert.equal(replies, 1);
  }
});

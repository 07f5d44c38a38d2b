import assert from 'node:assert/strict';
import { test } from 'node:test';
import { serve } from '@hal/bus';
import { QueueGroup, subjects, TrackerQuery, trackerQuerySchemas } from '@hal/protocol';
import {
  auditRecords,
  config,
  emit,
  FakeClock,
  fakeAgent,
  log,
  policyActions,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

const node = (name: string, projects: string[], sessions: number) => ({
  node: name,
  status: 'online' as const,
  gateway: 'gw',
  agent_version: '0.1.0',
  projects: projects.map((p) => ({ name: p, directory: `/srv/${p}` })),
  last_heartbeat_at: null,
  online_since: null,
  resources: null,
  sessions,
});

/** A stand-in tracker: two online nodes serve web; no idle session of any project. */
function fakeTracker(
  bus: Parameters<typeof fakeAgent>[0],
  idle: Array<{ session: string; node: string; project: string }> = [],
) {
  const servers = [
    serve(bus.nc, {
      subject: subjects.trackerQuery(TrackerQuery.NODES_LIST),
      queue: QueueGroup.TRACKER,
      schema: trackerQuerySchemas.nodes_list.request,
      log,
      handler: async () => ({
        nodes: [node('busy', ['web'], 5), node('quiet', ['web', 'api'], 1), node('other', ['docs'], 0)],
      }),
    }),
    serve(bus.nc, {
      subject: subjects.trackerQuery(TrackerQuery.SESSIONS_LIST),
      queue: QueueGroup.TRACKER,
      schema: trackerQuerySchemas.sessions_list.request,
      log,
      handler: async (req) => ({
        sessions: idle
          .filter((s) => s.project === req.project)
          .map((s) => ({
            session: s.session,
            node: s.node,
            project: s.project,
            state: 'idle' as const,
            title: null,
            model: null,
            provider: null,
            current_task: null,
            tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
            cost_usd: 0,
            compactions: 0,
            errors: 0,
            last_error: null,
            pending_permissions: [],
            started_at: null,
            last_activity_at: null,
            state_since: new Date(0).toISOString(),
            previous_session: null,
            next_session: null,
          })),
        next_cursor: null,
        total: idle.length,
      }),
    }),
  ];
  return { stop: () => Promise.all(servers.map((s) => s.stop())) };
}

const deps = {
  dependencies: {
    api: { depends_on: [] },
    web: { depends_on: ['api'] },
    docs: { depends_on: ['api', 'web'] },
  },
};

test('start_dependents - a milestone starts each dependent once, on the least busy node; a repeat does nothing', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const tracker = fakeTracker(bus);
  t.after(() => tracker.stop());
  const quiet = fakeAgent(bus, 'quiet', () => ({ session: 'new-web', project: 'web' }));
  const other = fakeAgent(bus, 'other', () => ({ session: 'new-docs', project: 'docs' }));
  const busy = fakeAgent(bus, 'busy');
  t.after(() => Promise.all([quiet.stop(), other.stop(), busy.stop()]));
  await startPolicy(t, bus, config({ ...deps, policies: { start_dependents: { enabled: true } } }), clock);

  const milestone = {
    node: 'n-api',
    project: 'api',
    session: null,
    type: 'env.milestone',
    data: { milestone: 'schema ready', file: '.context/PROGRESS.md' },
  };
  await emit(bus, { ...milestone, time: clock.iso() });
  await emit(bus, { ...milestone, time: clock.iso(1000) }); // reported again (another node, a restart)
  await emit(bus, { ...milestone, project: 'web', time: clock.iso(2000) }); // web's own milestone: docs again? no: new milestone key
  await settled(bus);

  assert.deepEqual(
    quiet.commands.map((c) => c.command),
    [
      {
        type: 'start',
        project: 'web',
        prompt:
          'Project api reached the milestone "schema ready", which web depends on. Read .context/PROGRESS.md and .context/CURRENT_TASK.md, then continue the work that waited for it.',
        title: 'web: after a milestone',
      },
    ],
  );
  assert.deepEqual(busy.commands, []);
  // docs depends on api and on web: one start per (dependency, milestone).
  assert.deepEqual(
    other.commands.map((c) => [c.command.type, 'prompt' in c.command ? c.command.prompt?.slice(0, 12) : '']),
    [
      ['start', 'Project api '],
      ['start', 'Project web '],
    ],
  );
  const acted = await policyActions(bus, 'start_dependents');
  assert.deepEqual(
    acted.map((a) => [a.decision, a.node]),
    [
      ['acted', 'quiet'],
      ['acted', 'other'],
      ['acted', 'other'],
    ],
  );
  assert.ok(
    (await auditRecords(bus)).some((r) => r.actor.id === 'start_dependents' && r.action === 'policy.acted'),
  );
});

test('start_dependents - dry run claims nothing; an idle session is prompted instead of a new start', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const tracker = fakeTracker(bus, [{ session: 'web-1', node: 'busy', project: 'web' }]);
  t.after(() => tracker.stop());
  const busy = fakeAgent(bus, 'busy');
  const quiet = fakeAgent(bus, 'quiet');
  t.after(() => Promise.all([quiet.stop(), busy.stop()]));
  const svc = await startPolicy(
    t,
    bus,
    config({
      dependencies: { api: {}, web: { depends_on: ['api'] } },
      policies: { start_dependents: { enabled: true, dry_run: true } },
    }),
    clock,
  );
  const milestone = {
    node: 'n-api',
    project: 'api',
    session: null,
    type: 'env.milestone',
    data: { milestone: 'v1', file: '.context/PROGRESS.md' },
  };
  await emit(bus, { ...milestone, time: clock.iso() });
  await settled(bus);
  assert.deepEqual([...busy.commands, ...quiet.commands], []);
  const dry = await policyActions(bus, 'start_dependents');
  assert.equal(dry.length, 1);
  assert.equal(dry[0]?.decision, 'dry_run');
  assert.match(dry[0]?.reason ?? '', /^would have: resume web on busy: api reached milestone "v1"/);
  await svc.stop();

  await startPolicy(
    t,
    bus,
    config({
      dependencies: { api: {}, web: { depends_on: ['api'] } },
      policies: { start_dependents: { enabled: true } },
    }),
    clock,
  );
  await emit(bus, { ...milestone, time: clock.iso(1000) });
  await settled(bus);
  assert.deepEqual(
    busy.commands.map((c) => [c.command.type, 'session' in c.command ? c.command.session : '']),
    [['resume', 'web-1']],
  );
});

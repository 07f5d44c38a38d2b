import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { test } from 'node:test';
import { request, serve } from '@hal/bus';
import { runValidate } from '@hal/config';
import {
  CostQuery,
  costQuerySchemas,
  PolicyQuery,
  QueueGroup,
  routesTestResponseSchema,
  subjects,
} from '@hal/protocol';
import {
  config,
  emit,
  FakeClock,
  log,
  notifications,
  settled,
  startBus,
  startPolicy,
  TOKEN,
} from './policy-harness.ts';

const idleFiveMinutes = config({
  routes: [
    { match: 'session.idle', when: { state_for_seconds: { gte: 300 } }, target: 'discord#alerts' },
    { match: 'session.idle', target: 'discord#dev-log' },
  ],
});

const alerts = async (bus: Parameters<typeof notifications>[0]) =>
  (await notifications(bus)).filter((n) => n.route === 'alerts');

test('route conditions - idle 5 min fires once at 5 min, not at 4; a session that works again drops it', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  const svc = await startPolicy(t, bus, idleFiveMinutes, clock);

  await emit(bus, { session: 's1', type: 'session.busy', time: clock.iso() });
  await emit(bus, { session: 's1', type: 'session.idle', time: clock.iso() });
  await settled(bus);
  assert.equal(
    (await notifications(bus)).filter((n) => n.route === 'dev-log').length,
    1,
    'the plain route fires at once',
  );
  assert.equal((await alerts(bus)).length, 0);

  clock.advance(240_000); // idle 4 min
  await svc.tick();
  assert.equal((await alerts(bus)).length, 0, 'idle 4 min: the 5 min route does not fire');

  clock.advance(60_000); // idle 5 min
  await svc.tick();
  const fired = await alerts(bus);
  assert.equal(fired.length, 1, 'idle 5 min: it fires');
  assert.equal(fired[0]?.session, 's1');
  assert.deepEqual(
    fired[0]?.fields.find((f) => f.name === 'When state_for_seconds'),
    { name: 'When state_for_seconds', value: '300 (≥ 300)' },
  );
  clock.advance(600_000);
  await svc.tick();
  assert.equal((await alerts(bus)).length, 1, 'once per idle period');

  // s2 goes idle, works again after 4 min, and is idle for long after that: its old idle
  // period never reached 5 min, and the new one has no idle event of its own yet.
  await emit(bus, { session: 's2', type: 'session.idle', time: clock.iso() });
  await settled(bus);
  clock.advance(240_000);
  await emit(bus, { session: 's2', type: 'session.busy', time: clock.iso() });
  await settled(bus);
  clock.advance(600_000);
  await svc.tick();
  assert.equal((await alerts(bus)).filter((n) => n.session === 's2').length, 0);
});

test('route conditions - count in a window and cost today; routes test explains each rule', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  // A stand-in for the cost service: api spent $25 today, web $3.
  const cost = serve(bus.nc, {
    subject: subjects.costQuery(CostQuery.REPORT),
    queue: QueueGroup.COST,
    schema: costQuerySchemas.report.request,
    log,
    handler: async () => ({
      period: 'today' as const,
      from: '2030-01-01',
      to: '2030-01-01',
      group_by: ['project' as const],
      totals: {
        observed_usd: 28,
        estimated_usd: 0,
        billed_usd: 0,
        tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
        messages: 0,
      },
      rows: [
        {
          key: { project: 'api' },
          observed_usd: 25,
          estimated_usd: 0,
          billed_usd: null,
          tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
          messages: 1,
        },
        {
          key: { project: 'web' },
          observed_usd: 3,
          estimated_usd: 0,
          billed_usd: null,
          tokens: { input: 0, output: 0, reasoning: 0, cache_read: 0, cache_write: 0 },
          messages: 1,
        },
      ],
      reconciliation: [],
      days: [],
      providers: [],
    }),
  });
  t.after(() => cost.stop());
  const svc = await startPolicy(
    t,
    bus,
    config({
      routes: [
        {
          match: 'session.error',
          when: { count: { window_seconds: 600, gte: 3 } },
          target: 'discord#alerts',
        },
        { match: 'message.completed', when: { cost_today_usd: { gt: 20 } }, target: 'discord#costly' },
      ],
    }),
    clock,
  );
  for (let i = 0; i < 4; i++) {
    await emit(bus, { session: 's1', type: 'session.error', data: { kind: 'APIError' }, time: clock.iso() });
    await settled(bus);
    clock.advance(1_000);
  }
  const errorAlerts = (await notifications(bus)).filter((n) => n.route === 'alerts');
  assert.deepEqual(
    errorAlerts.map((n) => n.fields.find((f) => f.name === 'When count')?.value),
    ['3 (≥ 3 in 600 s per session)'],
    'the 3rd error in 10 minutes fires; the 4th is collapsed into the same window',
  );

  const done = { message_id: 'm', model: 'x', provider: 'p', tokens: {}, cost_usd: 0.1 };
  await emit(bus, {
    project: 'web',
    session: 'w1',
    type: 'message.completed',
    data: done,
    time: clock.iso(),
  });
  await emit(bus, {
    project: 'api',
    session: 'a1',
    type: 'message.completed',
    data: done,
    time: clock.iso(),
  });
  await settled(bus);
  assert.deepEqual(
    (await notifications(bus)).filter((n) => n.route === 'costly').map((n) => n.project),
    ['api'],
  );

  const explained = await request(
    bus.nc,
    subjects.policyQuery(PolicyQuery.ROUTES_TEST),
    { type: 'message.completed', project: 'web', session: 'w1' },
    routesTestResponseSchema,
    { timeoutMs: 5_000 },
  );
  assert.deepEqual(explained.fires, []);
  assert.deepEqual(
    explained.rules.map((r) => [r.index, r.outcome, r.reason]),
    [
      [0, 'no', 'type message.completed does not match "session.error"'],
      [1, 'no', 'matches, but cost_today_usd is 3.00, needs > 20'],
    ],
  );
  await svc.stop();
});

test('route conditions - --validate names the key path of a bad condition', () => {
  const errors: string[] = [];
  const sink = { write: (s: string) => errors.push(s) };
  const file = `${process.env.TMPDIR ?? '/tmp'}/hal-route-conditions-${process.pid}.json`;
  writeFileSync(
    file,
    JSON.stringify({
      server: { auth_token: TOKEN },
      routes: [
        { match: 'session.idle', when: { state_for_seconds: { atleast: 300 } }, target: 'discord#alerts' },
        { match: 'cost.*', when: { state_for_seconds: { gte: 60 } }, target: 'discord#alerts' },
        { match: 'session.error', when: { count: { gte: 3 } }, target: 'discord#alerts' },
        { match: 'session.idle', when: { cost_today_usd: {} }, target: 'discord#alerts' },
      ],
    }),
  );
  const code = runValidate('supervisor', file, { write: () => undefined }, sink, { env: {} });
  assert.equal(code, 1);
  const text = errors.join('');
  assert.match(text, /^routes\[0\]\.when\.state_for_seconds\.atleast: unknown key/m);
  assert.match(
    text,
    /^routes\[1\]\.when\.state_for_seconds: "cost\.\*" never matches an event that starts a state/m,
  );
  assert.match(text, /^routes\[2\]\.when\.count\.window_seconds: /m);
  assert.match(text, /^routes\[3\]\.when\.cost_today_usd: needs a comparison: gt, gte, lt, lte or eq/m);
});

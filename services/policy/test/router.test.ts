import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { DEFAULT_ROUTES } from '@hal/config';
import { createRegistry } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { globMatches, routeEvent, severityOf } from '../src/index.ts';
import {
  config,
  emit,
  FakeClock,
  notifications,
  publishMany,
  settled,
  startBus,
  startPolicy,
} from './policy-harness.ts';

const event = (type: string, extra: Partial<EventRecord> = {}): EventRecord => ({
  version: 1,
  id: crypto.randomUUID(),
  seq: 1,
  node: 'node-a',
  project: 'proj',
  session: 's1',
  type,
  time: new Date().toISOString(),
  data: {},
  ...extra,
});

test('router - globs on event types', () => {
  assert.equal(globMatches('cost.*', 'cost.budget_exceeded'), true);
  assert.equal(globMatches('session.error', 'session.error'), true);
  assert.equal(globMatches('session.error', 'session.errors'), false);
  assert.equal(globMatches('*', 'opencode.file.edited'), true);
  assert.equal(globMatches('session.*', 'sessionxidle'), false);
});

test('router - default routes send alerts to alerts and lifecycle to dev-log', () => {
  const targets = (e: EventRecord) => routeEvent(DEFAULT_ROUTES, e, severityOf(e)).map((r) => r.id);
  assert.deepEqual(targets(event('session.error', { data: { kind: 'APIError' } })), ['discord#alerts']);
  assert.deepEqual(targets(event('permission.asked')), ['discord#alerts']);
  assert.deepEqual(targets(event('cost.budget_exceeded')), ['discord#alerts']);
  assert.deepEqual(targets(event('node.offline', { session: null })), ['discord#alerts']);
  assert.deepEqual(targets(event('session.idle')), ['discord#dev-log']);
  assert.deepEqual(targets(event('session.busy')), []);
  assert.deepEqual(targets(event('policy.action', { data: { severity: 'critical' } })), ['discord#alerts']);
  assert.deepEqual(targets(event('policy.action', { data: { decision: 'acted' } })), []);
});

test('router - where filters on node, project and severity', () => {
  const routes = [
    { match: 'session.*', where: { project: 'alpha' }, target: 'webhook#ops' },
    { match: 'session.error', where: { node: 'node-b' }, target: 'discord#b-alerts' },
    { match: '*', where: { severity: 'critical' as const }, target: 'discord#pager' },
  ];
  const ids = (e: EventRecord) => routeEvent(routes, e, severityOf(e)).map((r) => r.id);
  assert.deepEqual(ids(event('session.error', { project: 'alpha' })), ['webhook#ops']);
  assert.deepEqual(ids(event('session.error', { node: 'node-b' })), ['discord#b-alerts']);
  assert.deepEqual(ids(event('cost.budget_exceeded')), ['discord#pager']);
  assert.deepEqual(ids(event('session.idle', { project: 'beta' })), []);
});

test('router - 500 identical errors in a minute give one alert and one digest', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  // Real event times: the cut-off for old events compares them with the clock.
  clock.t = Date.now();
  const svc = await startPolicy(t, bus, config({ policies: { error_loop: { enabled: false } } }), clock);
  await publishMany(
    bus,
    Array.from({ length: 500 }, () => ({
      type: 'session.error',
      time: clock.iso(),
      data: { kind: 'APIError', message: 'overloaded_error' },
    })),
  );
  await settled(bus);
  await svc.tick();
  let sent = (await notifications(bus)).filter((n) => n.kind.startsWith('session.error'));
  assert.equal(sent.length, 1, 'one alert while the window is open');
  assert.equal(sent[0]?.title, 'Session error: APIError');
  assert.equal(sent[0]?.subject, 'hal.notify.discord.alerts');

  clock.advance(61_000);
  await svc.tick();
  await svc.tick();
  sent = (await notifications(bus)).filter((n) => n.kind.startsWith('session.error'));
  assert.equal(sent.length, 2);
  assert.equal(sent[1]?.kind, 'session.error.digest');
  assert.equal(sent[1]?.count, 499);
  assert.equal(sent[1]?.title, '499 more: Session error: APIError');
});

test('router - a restarted service re-sends nothing old, and old events are never notified', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  clock.t = Date.now();
  const cfg = config({});
  const first = await startPolicy(t, bus, cfg, clock);
  await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
  await emit(bus, { session: 's2', type: 'session.idle', time: clock.iso() });
  await settled(bus);
  await waitFor(async () => (await notifications(bus)).length === 2);
  await first.stop();

  const second = await startPolicy(t, bus, cfg, clock);
  await second.tick();
  // A stale event (an agent's spool flushed after a day offline) is recorded but not notified.
  await emit(bus, {
    session: 's3',
    type: 'session.error',
    time: clock.iso(-24 * 3600_000),
    data: { kind: 'Old' },
  });
  await emit(bus, { session: 's4', type: 'session.error', time: clock.iso(), data: { kind: 'New' } });
  await settled(bus);
  await second.tick();
  const all = await notifications(bus);
  assert.deepEqual(
    all.map((n) => n.title),
    ['Session error: APIError', 'session.idle — s2', 'Session error: New'],
  );
});

test('router - webhook targets are POSTed as JSON with bounded retries', async (t) => {
  const bus = await startBus(t);
  const clock = new FakeClock();
  clock.t = Date.now();
  const calls: Array<{ url: string; id: string | null; body: { title: string } }> = [];
  let failures = 2;
  const fetch = (async (url: string, init: RequestInit) => {
    const headers = new Headers(init.headers);
    calls.push({ url, id: headers.get('x-hal-notification-id'), body: JSON.parse(String(init.body)) });
    if (failures-- > 0) return new Response('busy', { status: 503 });
    return new Response('ok', { status: 200 });
  }) as typeof globalThis.fetch;
  const cfg = config({
    routes: [
      { match: 'session.error', target: 'webhook#ops' },
      { match: 'session.idle', target: 'webhook#down' },
    ],
    webhooks: { ops: { url: 'http://127.0.0.1:9/hook' }, down: { url: 'http://127.0.0.1:9/down' } },
  });
  const svc = await startPolicy(t, bus, cfg, clock, { fetch, notify: { webhookBackoffMs: [5, 5] } });
  await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
  await settled(bus);
  await waitFor(() => calls.length === 3);
  await svc.stop();
  assert.deepEqual(
    calls.map((c) => [c.url, c.body.title]),
    [
      ['http://127.0.0.1:9/hook', 'Session error: APIError'],
      ['http://127.0.0.1:9/hook', 'Session error: APIError'],
      ['http://127.0.0.1:9/hook', 'Session error: APIError'],
    ],
  );
  assert.equal(new Set(calls.map((c) => c.id)).size, 1, 'the same notification id on every attempt');
  assert.equal((await notifications(bus)).length, 0, 'webhook targets do not go to HAL_NOTIFY');
});

test('router - a webhook that redirects is not followed: its secret URL and headers stay with the configured host', async (t) => {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(`${req.url} ${req.headers.authorization ?? '-'}`);
    if (req.url === '/hook') res.writeHead(307, { location: '/stolen' }).end('moved');
    else res.writeHead(200).end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const bus = await startBus(t);
  const clock = new FakeClock();
  clock.t = Date.now();
  const cfg = config({
    routes: [{ match: 'session.error', target: 'webhook#ops' }],
    webhooks: { ops: { url: `${base}/hook`, headers: { authorization: 'Bearer hook-secret' } } },
  });
  const registry = createRegistry({ defaultMetrics: false });
  const svc = await startPolicy(t, bus, cfg, clock, {
    fetch: globalThis.fetch,
    registry,
    notify: { webhookBackoffMs: [] },
  });
  await emit(bus, { type: 'session.error', time: clock.iso(), data: { kind: 'APIError' } });
  await settled(bus);
  await waitFor(async () => /channel="webhook",outcome="failed"\} 1/.test(await registry.metrics()));
  await svc.stop();
  assert.deepEqual(hits, ['/hook Bearer hook-secret'], 'one POST, and nothing sent to the redirect target');
});

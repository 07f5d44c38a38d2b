import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type EventRecord, subjects } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { agentEvents, connectAgent, type FakeAgent, makeEvent, readEvents, startEnv } from './ws-harness.ts';

/** A fake agent that answers every command with the name it was given. */
function echoing(name: string) {
  return (frame: { payload: unknown }, agent: FakeAgent) => {
    const id = (frame.payload as { command_id: string }).command_id;
    agent.send('command.result', { command_id: id, ok: true, data: { answered_by: name } });
  };
}

const status = JSON.stringify({
  command: { type: 'status' },
  actor: { kind: 'system', id: 'test' },
  timeout_ms: 2_000,
});

test('ws cluster - two gateways side by side both take events and commands', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const gw2 = await env.startGateway();
  const url2 = `ws://127.0.0.1:${gw2.address().port}`;
  const a = await connectAgent(env.url, { node: 'node-1', onCommand: echoing('a') });
  const b = await connectAgent(url2, { node: 'node-2', onCommand: echoing('b') });
  await a.hello();
  await b.hello();
  a.send('events', { events: [makeEvent('node-1', 1)] });
  b.send('events', { events: [makeEvent('node-2', 1)] });
  await a.waitAck(1);
  await b.waitAck(1);
  const r1 = await env.nc.request(subjects.command('node-1'), status, { timeout: 3_000 });
  const r2 = await env.nc.request(subjects.command('node-2'), status, { timeout: 3_000 });
  assert.deepEqual(r1.json(), { ok: true, data: { answered_by: 'a' } });
  assert.deepEqual(r2.json(), { ok: true, data: { answered_by: 'b' } });
  assert.deepEqual(
    env.gateway.nodes().map((n) => n.node),
    ['node-1'],
  );
  assert.deepEqual(
    gw2.nodes().map((n) => n.node),
    ['node-2'],
  );
  const stored = agentEvents(await readEvents(env.nc));
  assert.deepEqual(stored.map((s) => s.event.node).sort(), ['node-1', 'node-2']);
  await a.close();
  await b.close();
});

test('ws cluster - a node reconnecting to the other gateway moves there and its commands follow', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const gw2 = await env.startGateway();
  const seen: EventRecord[] = [];
  env.nc.subscribe(subjects.eventFilter({ node: 'node-m', project: '', type: 'node.*' }), {
    callback: (_e, m) => {
      seen.push(m.json<EventRecord>());
    },
  });
  await env.nc.flush();

  const first = await connectAgent(env.url, { node: 'node-m', onCommand: echoing('first') });
  await first.hello();
  const r1 = await env.nc.request(subjects.command('node-m'), status, { timeout: 3_000 });
  assert.deepEqual(r1.json(), { ok: true, data: { answered_by: 'first' } });

  // The old socket is still open (a half-dead link): the claim alone must move the node.
  const second = await connectAgent(`ws://127.0.0.1:${gw2.address().port}`, {
    node: 'node-m',
    onCommand: echoing('second'),
  });
  await second.hello();
  const closed = await first.closed;
  assert.equal(closed.code, 4001);
  assert.equal(closed.reason, 'replaced');
  await waitFor(() => env.gateway.nodes().length === 0, { message: 'gw-1 dropped node-m' });
  assert.deepEqual(
    gw2.nodes().map((n) => n.node),
    ['node-m'],
  );
  const r2 = await env.nc.request(subjects.command('node-m'), status, { timeout: 3_000 });
  assert.deepEqual(r2.json(), { ok: true, data: { answered_by: 'second' } });
  await env.nc.flush();
  // A move is not an outage: no node.offline in between.
  assert.deepEqual(
    seen.map((e) => [e.type, e.data.gateway]),
    [
      ['node.online', 'gw-1'],
      ['node.online', 'gw-2'],
    ],
  );
  await second.close();
});

test('ws cluster - a second socket for a node on the same gateway replaces the first', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const first = await connectAgent(env.url, { node: 'node-r', onCommand: echoing('first') });
  await first.hello();
  const second = await connectAgent(env.url, { node: 'node-r', onCommand: echoing('second') });
  await second.hello();
  assert.equal((await first.closed).code, 4001);
  const reply = await env.nc.request(subjects.command('node-r'), status, { timeout: 3_000 });
  assert.deepEqual(reply.json(), { ok: true, data: { answered_by: 'second' } });
  assert.equal(env.gateway.nodes().length, 1);
  await second.close();
});

test('ws cluster - a command reaches a node on either gateway, and a node on none is NODE_OFFLINE at once', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const gw2 = await env.startGateway();
  const a = await connectAgent(env.url, { node: 'node-x', onCommand: echoing('x') });
  const b = await connectAgent(`ws://127.0.0.1:${gw2.address().port}`, {
    node: 'node-y',
    onCommand: echoing('y'),
  });
  await a.hello();
  await b.hello();
  // One gateway of the queue group takes each command: ten each, so both pass some on to the other.
  for (let i = 0; i < 10; i++) {
    const [rx, ry] = await Promise.all([
      env.nc.request(subjects.command('node-x'), status, { timeout: 3_000 }),
      env.nc.request(subjects.command('node-y'), status, { timeout: 3_000 }),
    ]);
    assert.deepEqual(rx.json(), { ok: true, data: { answered_by: 'x' } });
    assert.deepEqual(ry.json(), { ok: true, data: { answered_by: 'y' } });
  }

  const offline = async (node: string): Promise<number> => {
    const started = performance.now();
    const reply = await env.nc.request(subjects.command(node), status, { timeout: 3_000 });
    const ms = performance.now() - started;
    assert.equal((reply.json() as { error: { code: string } }).error.code, 'NODE_OFFLINE', node);
    return ms;
  };
  // Never connected anywhere.
  assert.ok((await offline('node-nowhere')) < 1_000);
  // Held by gw-2 until its agent left: gw-2 still answers for the node it claimed last.
  await b.close();
  await waitFor(() => gw2.nodes().length === 0, { message: 'gw-2 released node-y' });
  for (let i = 0; i < 4; i++) assert.ok((await offline('node-y')) < 1_000);
  // Claimed by a gateway that is gone: nothing answers the pass, so NODE_OFFLINE, not a timeout.
  const c = await connectAgent(`ws://127.0.0.1:${gw2.address().port}`, { node: 'node-z' });
  await c.hello();
  await gw2.stop();
  for (let i = 0; i < 4; i++) assert.ok((await offline('node-z')) < 1_000);
  await a.close();
});

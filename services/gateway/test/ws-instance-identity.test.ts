import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WsCloseCode } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { agentEvents, connectAgent, makeEvent, readEvents, startEnv } from './ws-harness.ts';

const A = '11111111-aaaa-4aaa-8aaa-111111111111';
const B = '22222222-bbbb-4bbb-8bbb-222222222222';

test('ws instance identity - a second instance of a live node id is refused (both hosts named), the first keeps streaming, no node.online flood', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const gw2 = await env.startGateway({ id: 'gw-2' });
  const first = await connectAgent(env.url, { node: 'twin' });
  assert.equal((await first.hello({ instance_id: A, host: 'host-a' })).type, 'welcome');
  first.send('events', { events: [makeEvent('twin', 1)] });
  await first.waitAck(1);

  // Five attempts by the clone, on both gateways, as a retrying agent would make.
  for (let i = 0; i < 5; i++) {
    const url = i % 2 === 0 ? env.url : `ws://127.0.0.1:${gw2.address().port}`;
    const clone = await connectAgent(url, { node: 'twin' });
    const answer = await clone.hello({ instance_id: B, host: 'host-b' });
    assert.equal(answer.type, 'error');
    const e = answer.payload as { code: string; message: string };
    assert.equal(e.code, 'NODE_ID_IN_USE');
    assert.match(
      e.message,
      new RegExp(
        `^node id "twin" is in use by another agent: held by instance ${A} on host host-a \\(127\\.0\\.0\\.1\\) via gateway gw-1; refused instance ${B} on host host-b \\(127\\.0\\.0\\.1\\)\\. Give each host its own node_id`,
      ),
    );
    assert.equal((await clone.closed).code, WsCloseCode.NODE_ID_IN_USE);
    // The first keeps its node and streams on.
    first.send('events', { events: [makeEvent('twin', i + 2)] });
    await first.waitAck(i + 2);
  }
  assert.equal(first.ws.readyState, first.ws.OPEN);
  assert.deepEqual(
    env.gateway.nodes().map((n) => [n.node, n.instance_id, n.host]),
    [['twin', A, 'host-a']],
  );
  assert.deepEqual(gw2.nodes(), []);

  const stored = await readEvents(env.nc);
  const of = (type: string) => stored.filter((s) => s.event.node === 'twin' && s.event.type === type);
  assert.equal(of('node.online').length, 1, 'one node.online: the refusals publish none');
  assert.equal(of('node.offline').length, 0);
  assert.equal(agentEvents(stored).length, 6);
  const conflicts = of('node.id_conflict');
  assert.ok(
    conflicts.length >= 1 && conflicts.length <= 2,
    `one alert per gateway a minute, got ${conflicts.length}`,
  );
  assert.deepEqual(conflicts[0]?.event.data, {
    holder: { node: 'twin', gateway: 'gw-1', host: 'host-a', remote_address: '127.0.0.1', instance_id: A },
    refused: { host: 'host-b', remote_address: '127.0.0.1', instance_id: B },
    severity: 'warning',
  });
  await first.close();
});

test('ws instance identity - the same instance reconnecting takes its old socket over', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const old = await connectAgent(env.url, { node: 'solo' });
  assert.equal((await old.hello({ instance_id: A, host: 'host-a' })).type, 'welcome');
  const again = await connectAgent(env.url, { node: 'solo' });
  assert.equal((await again.hello({ instance_id: A, host: 'host-a' })).type, 'welcome');
  assert.equal((await old.closed).code, WsCloseCode.REPLACED);
  again.send('events', { events: [makeEvent('solo', 1)] });
  await again.waitAck(1);
  await waitFor(() => env.gateway.nodes().length === 1);
  await again.close();
});

test('ws instance identity - once the holder is gone, another instance may take the node id', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const first = await connectAgent(env.url, { node: 'moved' });
  assert.equal((await first.hello({ instance_id: A, host: 'old-host' })).type, 'welcome');
  await first.close();
  await waitFor(() => env.gateway.nodes().length === 0);
  const next = await connectAgent(env.url, { node: 'moved' });
  assert.equal((await next.hello({ instance_id: B, host: 'new-host' })).type, 'welcome');
  await next.close();
});

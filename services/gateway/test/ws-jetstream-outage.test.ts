import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { agentEvents, connectAgent, makeEvent, readEvents, startEnv } from './ws-harness.ts';

test('ws jetstream - no ack while nats-server is down; the ack comes once it is back', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const agent = await connectAgent(env.url, { node: 'node-o' });
  await agent.hello();
  agent.send('events', { events: [makeEvent('node-o', 1), makeEvent('node-o', 2)] });
  await agent.waitAck(2);

  env.nats.kill('SIGKILL');
  const batch = Array.from({ length: 50 }, (_, i) => makeEvent('node-o', i + 3));
  agent.send('events', { events: batch });
  // Nothing can be durable while the server is gone, so nothing may be acked.
  await sleep(1_500);
  assert.equal(agent.acked, 2);

  await env.nats.restart();
  await agent.waitAck(52, 20_000);
  await agent.close();
  const stored = agentEvents(await readEvents(env.nc)).filter((s) => s.event.node === 'node-o');
  assert.deepEqual(
    stored.map((s) => s.event.seq).sort((a, b) => a - b),
    Array.from({ length: 52 }, (_, i) => i + 1),
  );
});

test('ws jetstream - above the in-flight limit the socket is paused, not buffered', async (t) => {
  const env = await startEnv({ limits: { maxInFlightPerConnection: 10 } });
  t.after(async () => {
    env.nats.kill('SIGCONT');
    await env.close();
  });
  const agent = await connectAgent(env.url, { node: 'node-p' });
  await agent.hello();
  // Freeze JetStream: publishes stay in flight.
  env.nats.kill('SIGSTOP');
  agent.send('events', { events: Array.from({ length: 20 }, (_, i) => makeEvent('node-p', i + 1)) });
  await sleep(200);
  // This frame sits unread in TCP buffers while the socket is paused; read, it would be answered at once.
  agent.sendRaw('not json');
  await sleep(500);
  assert.equal(agent.frames.filter((f) => f.type === 'error').length, 0);
  assert.equal(agent.acked, -1);

  env.nats.kill('SIGCONT');
  await agent.waitAck(20);
  const err = await agent.waitFrame((f) => f.type === 'error');
  assert.deepEqual(err.payload, { code: 'BAD_FRAME', message: 'frame is not valid JSON' });
  await agent.close();
});

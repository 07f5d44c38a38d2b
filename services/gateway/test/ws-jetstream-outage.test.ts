import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor } from '@hal/testkit';
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
  // The gateway has read the frame: its 50 publishes are in flight against a dead server.
  await waitFor(() => env.gateway.connectionStats('node-o')[0]?.in_flight === 50, {
    message: '50 publishes in flight',
  });
  // A frame read after the batch gets its answer after anything reading the batch could have sent.
  agent.sendRaw('not json');
  await agent.waitFrame((f) => f.type === 'error');
  // Nothing can be durable while the server is gone, so nothing may be acked.
  assert.equal(agent.acked, 2);
  assert.equal(env.gateway.connectionStats('node-o')[0]?.in_flight, 50);

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
  const stats = () => env.gateway.connectionStats('node-p')[0];
  // Every frame from now on, acks included, with the gateway's state at the moment it arrived.
  const arrivals: Array<{ type: string; code?: string; inFlight?: number; paused?: boolean }> = [];
  agent.ws.on('message', (data) => {
    const f = JSON.parse(data.toString()) as { type: string; payload: { code?: string } };
    arrivals.push({
      type: f.type,
      code: f.payload.code,
      inFlight: stats()?.in_flight,
      paused: stats()?.paused,
    });
  });
  // Freeze JetStream: publishes stay in flight.
  env.nats.kill('SIGSTOP');
  agent.send('events', { events: Array.from({ length: 20 }, (_, i) => makeEvent('node-p', i + 1)) });
  await waitFor(() => stats()?.paused, { message: 'the gateway pauses reading above 10 in flight' });
  assert.equal(stats()?.in_flight, 20);
  // Sent only now, so it cannot share a TCP read with the batch: it must wait unread in the socket.
  agent.sendRaw('not json');
  await waitFor(() => (stats()?.unread_bytes ?? 0) > 0, {
    message: 'the frame reached the gateway and sits unread',
  });
  assert.equal(arrivals.length, 0, `no ack and no answer while paused: ${JSON.stringify(arrivals)}`);
  assert.equal(stats()?.paused, true);

  env.nats.kill('SIGCONT');
  await agent.waitAck(20);
  const err = await agent.waitFrame((f) => f.type === 'error');
  assert.deepEqual(err.payload, { code: 'BAD_FRAME', message: 'frame is not valid JSON' });
  // The frame was read only after JetStream had acked enough to drop below half the limit.
  const answer = arrivals.find((a) => a.type === 'error');
  assert.equal(answer?.code, 'BAD_FRAME');
  assert.equal(answer?.paused, false);
  assert.ok((answer?.inFlight ?? 99) <= 5, `in flight when answered: ${answer?.inFlight}`);
  assert.equal(stats()?.in_flight, 0);
  await agent.close();
});

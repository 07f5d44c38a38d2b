import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  type EventRecord,
  formatProtocolVersion,
  makeEnvelope,
  oldestAccepted,
  WIRE_PROTOCOL,
  WS_LIMITS,
} from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { agentEvents, connectAgent, type Env, makeEvent, readEvents, startEnv } from './ws-harness.ts';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.close();
});

async function storedOf(node: string) {
  return agentEvents(await readEvents(env.nc)).filter((s) => s.event.node === node);
}

test('ws events - land in HAL_EVENTS once with their subjects, and a resend is acked again', async () => {
  const agent = await connectAgent(env.url, { node: 'node-e' });
  await agent.hello();
  const events = Array.from({ length: 300 }, (_, i) =>
    makeEvent('node-e', i + 1, i % 2 === 0 ? {} : { project: 'web.app', type: 'message.completed' }),
  );
  for (let i = 0; i < 300; i += 100) agent.send('events', { events: events.slice(i, i + 100) });
  await agent.waitAck(300);
  // A resend after a reconnect: same ids, so JetStream stores nothing new and still acks.
  await agent.close();
  const again = await connectAgent(env.url, { node: 'node-e' });
  await again.hello({ last_acked_seq: 0 });
  again.send('events', { events: events.slice(0, 150) });
  again.send('events', { events: events.slice(150) });
  await again.waitAck(300);
  await again.close();

  const stored = await storedOf('node-e');
  assert.equal(stored.length, 300);
  assert.deepEqual(
    stored.map((s) => s.event.seq),
    events.map((e) => e.seq),
  );
  assert.equal(stored[0]?.subject, 'hal.evt.node-e.demo.session.idle');
  assert.equal(stored[1]?.subject, 'hal.evt.node-e.web%2Eapp.message.completed');
  // Stored as sent, plus the gateway's stamps (control-plane receive time, the node's skew).
  const { received_at, host_skew_ms, ...asSent } = stored[1]?.event ?? ({} as EventRecord);
  assert.deepEqual(asSent, events[1]);
  assert.equal(typeof received_at, 'string');
  assert.equal(typeof host_skew_ms, 'number');
  const metrics = await env.registry.getSingleMetricAsString('hal_o_swarm_events_total');
  assert.match(metrics, /hal_o_swarm_events_total\{type="session.idle"\} 150/);
  assert.match(metrics, /hal_o_swarm_events_total\{type="message.completed"\} 150/);
});

test('ws events - every kind of bad frame gets its code and path while the events around it are kept', async () => {
  const agent = await connectAgent(env.url, { node: 'node-bad' });
  await agent.hello();
  const errors = () => agent.frames.filter((f) => f.type === 'error').map((f) => f.payload);

  agent.send('events', { events: [makeEvent('node-bad', 1)] });
  agent.sendRaw('{not json');
  const { request_id: _drop, ...noRequestId } = makeEnvelope('heartbeat', heartbeat());
  agent.sendRaw(JSON.stringify(noRequestId));
  agent.sendRaw(JSON.stringify({ ...makeEnvelope('heartbeat', heartbeat()), version: 2 }));
  agent.sendRaw(JSON.stringify({ ...makeEnvelope('heartbeat', heartbeat()), type: 'reboot' }));
  agent.sendRaw(
    JSON.stringify(makeEnvelope('heartbeat', { ...heartbeat(), load: 'high' as unknown as number[] })),
  );
  agent.send('events', {
    events: [
      makeEvent('node-bad', 2),
      makeEvent('node-bad', 3, { type: 'Not A Type' }),
      makeEvent('node-other', 4),
      makeEvent('node-bad', 5),
    ],
  });
  agent.send('events', { events: [makeEvent('node-bad', 6)] });
  await agent.waitAck(6);
  await waitFor(() => errors().length === 6, { message: 'six error frames' });

  assert.deepEqual(errors(), [
    { code: 'BAD_FRAME', message: 'frame is not valid JSON' },
    {
      code: 'BAD_FRAME',
      message: 'invalid envelope: request_id: Invalid input: expected string, received undefined',
      path: 'request_id',
    },
    {
      code: 'UNSUPPORTED_VERSION',
      message: `agent speaks protocol 2.x, this gateway speaks protocol ${formatProtocolVersion(WIRE_PROTOCOL)} (another major version; it accepts agents ${formatProtocolVersion(oldestAccepted())} to 1.x): upgrade the gateway`,
      path: 'version',
    },
    {
      code: 'UNKNOWN_COMMAND',
      message:
        'unknown frame type "reboot"; an agent may send hello, events, heartbeat, snapshot, command.result',
      path: 'type',
    },
    {
      code: 'VALIDATION_FAILED',
      message:
        'invalid heartbeat payload: payload.load: Invalid input: expected array, received string (and 1 more)',
      path: 'payload.load',
    },
    {
      code: 'VALIDATION_FAILED',
      message:
        '2 of 4 events rejected; first: payload.events[1].type: must be lowercase words separated by dots, like "session.idle"',
      path: 'payload.events[1].type',
      rejected_seqs: [3, 4],
    },
  ]);
  assert.equal(agent.ws.readyState, agent.ws.OPEN);
  await agent.close();
  const stored = await storedOf('node-bad');
  assert.deepEqual(
    stored.map((s) => s.event.seq),
    [1, 2, 5, 6],
  );
  const rejected = await env.registry.getSingleMetricAsString('hal_o_swarm_events_rejected_total');
  assert.match(rejected, /code="BAD_FRAME"\} 2/);
  assert.match(rejected, /code="VALIDATION_FAILED"\} 3/);
});

test('ws events - an event too large is refused by seq (no loop); only a frame past the hard cap closes with 1009', async () => {
  const agent = await connectAgent(env.url, { node: 'node-big' });
  await agent.hello();
  agent.send('events', { events: [makeEvent('node-big', 1)] });
  await agent.waitAck(1);
  // Larger than the protocol's frame limit and the event limit, within the hard cap: read, and
  // the one event refused with its seq, so an agent drops it instead of resending it for ever.
  agent.send('events', {
    events: [makeEvent('node-big', 2, { data: { blob: 'x'.repeat(WS_LIMITS.maxFrameBytes) } })],
  });
  await agent.waitAck(2);
  const refused = await agent.waitFrame((f) => f.type === 'error');
  assert.equal((refused.payload as { code: string }).code, 'PAYLOAD_TOO_LARGE');
  assert.deepEqual((refused.payload as { rejected_seqs: number[] }).rejected_seqs, [2]);
  assert.match(
    (refused.payload as { message: string }).message,
    /larger than 262144; the agent must clip it/,
  );
  agent.send('events', { events: [makeEvent('node-big', 3)] });
  await agent.waitAck(3);
  assert.equal(agent.ws.readyState, agent.ws.OPEN);
  // Past the hard cap ws refuses the frame before buffering it.
  agent.send('events', {
    events: [makeEvent('node-big', 4, { data: { blob: 'x'.repeat(WS_LIMITS.hardFrameBytes) } })],
  });
  const closed = await agent.closed;
  assert.equal(closed.code, 1009);
  const next = await connectAgent(env.url, { node: 'node-big' });
  await next.hello();
  next.send('events', { events: [makeEvent('node-big', 5)] });
  await next.waitAck(5);
  await next.close();
  assert.deepEqual(
    (await storedOf('node-big')).map((s) => s.event.seq),
    [1, 3, 5],
  );
});

test('ws events - a peer that keeps sending garbage is closed with 1008', async () => {
  const agent = await connectAgent(env.url, { node: 'node-garbage' });
  await agent.hello();
  for (let i = 0; i < 12; i++) agent.sendRaw(`garbage ${i}`);
  const closed = await agent.closed;
  assert.equal(closed.code, 1008);
  assert.equal(closed.reason, 'too many bad frames');
  assert.equal(agent.frames.filter((f) => f.type === 'error').length, 10);
});

test('ws events - frames before hello are refused and hello is needed first', async () => {
  const agent = await connectAgent(env.url, { node: 'node-early' });
  agent.send('events', { events: [makeEvent('node-early', 1)] });
  const err = await agent.waitFrame((f) => f.type === 'error');
  assert.deepEqual(err.payload, {
    code: 'BAD_FRAME',
    message: 'the first frame must be hello, got events',
    path: 'type',
  });
  await agent.hello();
  agent.send('events', { events: [makeEvent('node-early', 2)] });
  await agent.waitAck(2);
  await agent.close();
});

function heartbeat() {
  return {
    load: [0.1, 0.2, 0.3],
    mem_total_bytes: 8e9,
    mem_free_bytes: 4e9,
    opencode_ok: true,
    sessions: 2,
    spool_depth: 0,
  };
}

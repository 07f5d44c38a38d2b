// Transient JetStream errors are retried; only errors about the message itself reject it. The
// JetStream side of `hal.evt.>` is answered by the test on a real nats-server (there is no
// HAL_EVENTS stream), so it can say exactly what a struggling cluster says: 10008 "temporarily
// unavailable", 10023 "insufficient resources", a leader election, then the ack.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { connectBus } from '@hal/bus';
import { createRegistry } from '@hal/observability';
import type { EventRecord } from '@hal/protocol';
import { startNats, waitFor } from '@hal/testkit';
import { createGateway } from '../src/index.ts';
import { connectAgent, makeEvent, silentLog, testConfig } from './ws-harness.ts';

const TRANSIENT = [
  { code: 503, err_code: 10008, description: 'JetStream system temporarily unavailable' },
  { code: 503, err_code: 10023, description: 'insufficient resources' },
  { code: 500, err_code: 10009, description: 'JetStream cluster can not handle request' },
];
const TOO_BIG = { code: 400, err_code: 10054, description: 'message size exceeds maximum allowed' };

test('ws jetstream - "temporarily unavailable", "insufficient resources" and elections are retried until stored; "too big" is refused by seq', async (t) => {
  const nats = await startNats();
  t.after(() => nats.stop());
  const nc = await connectBus({ url: nats.url, name: 'gw', log: silentLog });
  t.after(() => nc.close());
  const js = await connectBus({ url: nats.url, name: 'fake-jetstream', log: silentLog });
  t.after(() => js.close());
  // What the stream would answer, per message id: the transient errors in turn, then the ack.
  const attempts = new Map<string, number>();
  let stored = 0;
  js.subscribe('hal.evt.>', {
    callback: (_err, msg) => {
      const event = msg.json<EventRecord>();
      const n = (attempts.get(event.id) ?? 0) + 1;
      attempts.set(event.id, n);
      const answer =
        event.data.verdict === 'too-big'
          ? { error: TOO_BIG }
          : event.data.verdict === 'flaky' && n <= TRANSIENT.length
            ? { error: TRANSIENT[n - 1] }
            : { stream: 'HAL_EVENTS', seq: ++stored, duplicate: false };
      msg.respond(JSON.stringify(answer));
    },
  });
  await js.flush();
  const gateway = createGateway({
    config: testConfig(),
    nc,
    log: silentLog,
    registry: createRegistry({ defaultMetrics: false }),
    gatewayId: 'gw-t',
    stopGraceMs: 200,
  });
  await gateway.start();
  t.after(() => gateway.stop());
  const agent = await connectAgent(`ws://127.0.0.1:${gateway.address().port}`, { node: 'node-j' });
  t.after(() => agent.close());
  await agent.hello();

  const flaky = makeEvent('node-j', 1, { data: { verdict: 'flaky' } });
  const tooBig = makeEvent('node-j', 2, { data: { verdict: 'too-big' } });
  const fine = makeEvent('node-j', 3, { data: { verdict: 'fine' } });
  agent.send('events', { events: [flaky, tooBig, fine] });
  await agent.waitAck(3, 20_000);

  assert.equal(attempts.get(flaky.id), TRANSIENT.length + 1, 'each transient error was retried');
  assert.equal(attempts.get(tooBig.id), 1, 'a message JetStream will never take is not retried');
  assert.equal(attempts.get(fine.id), 1);
  const errors = agent.frames.filter((f) => f.type === 'error').map((f) => f.payload);
  assert.deepEqual(errors, [
    {
      code: 'UNAVAILABLE',
      message: 'JetStream refused event seq 2: message size exceeds maximum allowed',
      rejected_seqs: [2],
    },
  ]);
  await waitFor(() => agent.acked === 3, { message: 'the ack covers all three' });
});

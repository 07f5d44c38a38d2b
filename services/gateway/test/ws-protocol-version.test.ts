import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { formatProtocolVersion, WIRE_PROTOCOL, WsCloseCode } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { agentEvents, connectAgent, makeEvent, readEvents, startEnv } from './ws-harness.ts';

const current = formatProtocolVersion(WIRE_PROTOCOL);
const oneBehind = `${WIRE_PROTOCOL.major}.${WIRE_PROTOCOL.minor - 1}`;

/** A logger whose JSON lines the test can read. */
function capturingLog() {
  const lines: Array<Record<string, unknown>> = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: createLogger({ service: 'gateway-test', level: 'info', destination }), lines };
}

test('ws protocol version - an agent one minor behind connects, is told what it lacks, and streams', async (t) => {
  const { log, lines } = capturingLog();
  const env = await startEnv({ log });
  t.after(() => env.close());
  const agent = await connectAgent(env.url, { node: 'node-old' });
  const welcome = await agent.hello({ protocol: oneBehind });
  assert.equal(welcome.type, 'welcome');
  const w = welcome.payload as { protocol: string; gateway_protocol: string; missing_features: string[] };
  assert.equal(w.protocol, oneBehind);
  assert.equal(w.gateway_protocol, current);
  assert.ok(w.missing_features.length > 0, 'the newest minor brought at least one feature');
  const warned = await waitFor(() => lines.find((l) => l.agent_protocol === oneBehind), {
    message: 'a log line about the old agent',
  });
  assert.equal(warned.gateway_protocol, current);
  assert.deepEqual(warned.missing_features, w.missing_features);
  assert.match(String(warned.msg), /^agent speaks an older protocol and lacks: .+; upgrade it$/);

  for (let seq = 1; seq <= 20; seq++) agent.send('events', { events: [makeEvent('node-old', seq)] });
  await agent.waitAck(20);
  assert.equal(agentEvents(await readEvents(env.nc)).length, 20);
  await agent.close();
});

test('ws protocol version - an agent of the current version is told it lacks nothing', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const agent = await connectAgent(env.url, { node: 'node-new' });
  const welcome = await agent.hello();
  assert.deepEqual(
    {
      protocol: (welcome.payload as { protocol: string }).protocol,
      missing: (welcome.payload as { missing_features: string[] }).missing_features,
    },
    { protocol: current, missing: [] },
  );
  await agent.close();
});

test('ws protocol version - an agent two minors behind is refused at hello, naming both versions', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const twoBehind = `${WIRE_PROTOCOL.major}.${WIRE_PROTOCOL.minor - 2}`;
  const agent = await connectAgent(env.url, { node: 'node-ancient' });
  const answer = await agent.hello({ protocol: twoBehind });
  assert.equal(answer.type, 'error');
  const e = answer.payload as { code: string; message: string; path: string };
  assert.equal(e.code, 'UNSUPPORTED_VERSION');
  assert.equal(e.path, 'payload.protocol');
  assert.equal(
    e.message,
    `agent speaks protocol ${twoBehind}, this gateway speaks protocol ${current} and accepts agents ${oneBehind} to ${WIRE_PROTOCOL.major}.x (at most 1 minor version behind): upgrade the agent`,
  );
  assert.equal((await agent.closed).code, WsCloseCode.UNSUPPORTED_VERSION);
  assert.deepEqual(env.gateway.nodes(), [], 'a refused agent never holds its node');
  const nodeEvents = (await readEvents(env.nc)).filter((s) => s.event.node === 'node-ancient');
  assert.deepEqual(nodeEvents, [], 'no node.online for a refused agent');
});

test('ws protocol version - another major in the envelope is refused naming both versions', async (t) => {
  const env = await startEnv();
  t.after(() => env.close());
  const agent = await connectAgent(env.url, { node: 'node-future' });
  agent.sendRaw(
    JSON.stringify({
      version: WIRE_PROTOCOL.major + 1,
      type: 'hello',
      request_id: 'h1',
      timestamp: new Date().toISOString(),
      payload: {
        node: 'node-future',
        agent_version: '9',
        protocol: `${WIRE_PROTOCOL.major + 1}.0`,
        projects: [],
        last_acked_seq: 0,
      },
    }),
  );
  const answer = await agent.waitFrame((f) => f.type === 'error');
  const e = answer.payload as { code: string; message: string };
  assert.equal(e.code, 'UNSUPPORTED_VERSION');
  assert.match(
    e.message,
    new RegExp(
      `^agent speaks protocol ${WIRE_PROTOCOL.major + 1}\\.x, this gateway speaks protocol ${current.replace('.', '\\.')} .*upgrade the gateway$`,
    ),
  );
  assert.equal((await agent.closed).code, WsCloseCode.UNSUPPORTED_VERSION);
});

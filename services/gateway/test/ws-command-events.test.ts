import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { connectBus, type NatsConnection } from '@hal/bus';
import { createLogger, createRegistry } from '@hal/observability';
import {
  type CommandRequestInput,
  type Envelope,
  type EventRecord,
  EventType,
  eventRecordSchema,
  subjects,
} from '@hal/protocol';
import { startNats, waitFor } from '@hal/testkit';
import { createGateway } from '../src/index.ts';
import { connectAgent, type Env, type FakeAgent, readEvents, startEnv, testConfig } from './ws-harness.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

let env: Env;
/** Every command.executed seen on the bus, in arrival order. */
const traced: EventRecord[] = [];
before(async () => {
  env = await startEnv();
  env.nc.subscribe(subjects.eventFilter({ type: EventType.COMMAND_EXECUTED }), {
    callback: (err, msg) => {
      if (!err) traced.push(eventRecordSchema.parse(msg.json()));
    },
  });
});
after(async () => {
  await env.close();
});

async function ask(nc: NatsConnection, node: string, body: CommandRequestInput): Promise<unknown> {
  const msg = await nc.request(subjects.command(node), JSON.stringify(body), { timeout: 5_000 });
  return msg.json();
}

function nextTrace(node: string): Promise<EventRecord> {
  const seen = traced.filter((e) => e.node === node).length;
  return waitFor(() => traced.filter((e) => e.node === node)[seen], {
    timeoutMs: 5_000,
    message: `command.executed for ${node}`,
    intervalMs: 5,
  });
}

/** A fake agent whose reply to each command is computed from the command frame. */
function agentAnswering(node: string, answer: (cmd: { type: string }) => Record<string, unknown> | null) {
  return connectAgent(env.url, {
    node,
    onCommand: (f: Envelope, a: FakeAgent) => {
      const p = f.payload as { command_id: string; command: { type: string } };
      const result = answer(p.command);
      if (result !== null) a.send('command.result', { command_id: p.command_id, ...result } as never);
    },
  });
}

test('ws command events - a relayed command leaves one command.executed with the actor and the result', async () => {
  const received: string[] = [];
  const agent = await connectAgent(env.url, {
    node: 'node-t',
    onCommand: (f: Envelope, a: FakeAgent) => {
      const p = f.payload as { command_id: string };
      received.push(p.command_id);
      a.send('command.result', {
        command_id: p.command_id,
        ok: true,
        data: { session: 'ses_1', project: 'demo', title: 't', state: 'idle' },
      } as never);
    },
  });
  await agent.hello();
  const trace = nextTrace('node-t');
  const reply = await ask(env.nc, 'node-t', {
    command: { type: 'status', session: 'ses_1' },
    actor: { kind: 'user', id: 'alice' },
    timeout_ms: 2_000,
  });
  assert.equal((reply as { ok: boolean }).ok, true);
  const event = await trace;
  const { id, time, data, ...envelope } = event;
  assert.deepEqual(envelope, {
    version: 1,
    seq: 0,
    node: 'node-t',
    // The agent's reply named the project, so the event is filed under the session.
    project: 'demo',
    session: 'ses_1',
    type: 'command.executed',
  });
  const { command_id, duration_ms, ...rest } = data as { command_id: string; duration_ms: number };
  assert.deepEqual(rest, {
    command_type: 'status',
    actor: { kind: 'user', id: 'alice' },
    session: 'ses_1',
    ok: true,
  });
  assert.match(command_id, UUID);
  // The id the agent was sent is the id in the trace, so one command can be followed end to end.
  assert.deepEqual(received, [command_id]);
  assert.ok(Number.isInteger(duration_ms) && duration_ms >= 0 && duration_ms < 2_000, String(duration_ms));
  assert.match(id, UUID);
  assert.ok(Math.abs(Date.parse(time) - Date.now()) < 10_000);

  // It is in the event log, once.
  const stored = await readEvents(env.nc);
  assert.deepEqual(
    stored
      .filter((s) => s.event.type === 'command.executed' && s.event.node === 'node-t')
      .map((s) => s.event.id),
    [id],
  );
  assert.equal(
    stored.find((s) => s.event.id === id)?.subject,
    subjects.event('node-t', 'demo', 'command.executed'),
  );
  await agent.close();
});

test('ws command events - prompts never reach the trace; without a project the session stays in data only', async () => {
  const agent = await agentAnswering('node-p', () => ({
    ok: true,
    data: { session: 'ses_9', injected: true },
  }));
  await agent.hello();
  const trace = nextTrace('node-p');
  await ask(env.nc, 'node-p', {
    command: { type: 'inject', session: 'ses_9', prompt: 'SECRET-PROMPT-TEXT do the thing' },
    actor: { kind: 'discord', id: 'user#42' },
  });
  const event = await trace;
  assert.doesNotMatch(JSON.stringify(event), /SECRET-PROMPT-TEXT/);
  // The tracker files a session event under its project: with project '' it would move the session.
  assert.equal(event.project, '');
  assert.equal(event.session, null);
  assert.equal((event.data as { session: string }).session, 'ses_9');
  assert.deepEqual((event.data as { actor: unknown }).actor, { kind: 'discord', id: 'user#42' });
  assert.equal((event.data as { command_type: string }).command_type, 'inject');
  await agent.close();
});

test('ws command events - a failing command is traced with ok false and its code', async () => {
  const agent = await agentAnswering(
    'node-e',
    (cmd) =>
      cmd.type === 'kill'
        ? { ok: false, error: { code: 'SESSION_NOT_FOUND', message: 'no session ses_x' } }
        : null /* never answers: the gateway times out */,
  );
  await agent.hello();
  let trace = nextTrace('node-e');
  const killed = await ask(env.nc, 'node-e', {
    command: { type: 'kill', session: 'ses_x' },
    actor: { kind: 'policy', id: 'resume_on_idle' },
  });
  assert.deepEqual(killed, { ok: false, error: { code: 'SESSION_NOT_FOUND', message: 'no session ses_x' } });
  let event = await trace;
  assert.equal(event.session, null);
  assert.equal(event.project, '');
  const { command_id: _id, duration_ms: _ms, ...data } = event.data as Record<string, unknown>;
  assert.deepEqual(data, {
    command_type: 'kill',
    actor: { kind: 'policy', id: 'resume_on_idle' },
    session: 'ses_x',
    ok: false,
    code: 'SESSION_NOT_FOUND',
  });

  trace = nextTrace('node-e');
  const late = await ask(env.nc, 'node-e', {
    command: { type: 'status' },
    actor: { kind: 'user', id: 'bob' },
    timeout_ms: 200,
  });
  assert.equal((late as { error: { code: string } }).error.code, 'TIMEOUT');
  event = await trace;
  assert.equal((event.data as { ok: boolean }).ok, false);
  assert.equal((event.data as { code: string }).code, 'TIMEOUT');
  assert.equal((event.data as { session: null }).session, null);
  assert.ok((event.data as { duration_ms: number }).duration_ms >= 200);
  await agent.close();
});

test('ws command events - a trace that cannot be published is logged; the command still succeeds', async (t) => {
  // JetStream is on but HAL_EVENTS was never created: every event publish fails.
  const nats = await startNats();
  t.after(() => nats.stop());
  const lines: string[] = [];
  const log = createLogger({
    service: 'gateway-test',
    level: 'warn',
    destination: { write: (line: string) => void lines.push(line) },
  });
  const nc = await connectBus({ url: nats.url, name: 'trace-fail-test', log });
  t.after(() => nc.close());
  const gw = createGateway({
    config: testConfig(),
    nc,
    log,
    registry: createRegistry({ defaultMetrics: false }),
    stopGraceMs: 200,
  });
  await gw.start();
  t.after(() => gw.stop());
  const agent = await connectAgent(`ws://127.0.0.1:${gw.address().port}`, {
    node: 'node-z',
    onCommand: (f, a) =>
      a.send('command.result', {
        command_id: (f.payload as { command_id: string }).command_id,
        ok: true,
        data: 1,
      }),
  });
  t.after(() => agent.close());
  await agent.hello();
  const reply = await ask(nc, 'node-z', { command: { type: 'status' }, actor: { kind: 'user', id: 'a' } });
  assert.deepEqual(reply, { ok: true, data: 1 });
  const warned = await waitFor(
    () =>
      lines
        .map((l) => JSON.parse(l) as { msg: string; node?: string; command_id?: string })
        .find((l) => l.msg === 'command.executed not published'),
    { timeoutMs: 5_000, message: 'warning about the lost trace', intervalMs: 20 },
  );
  assert.equal(warned.node, 'node-z');
  assert.match(warned.command_id ?? '', UUID);
});

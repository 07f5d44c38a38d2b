import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type CommandRequestInput, type Envelope, subjects } from '@hal/protocol';
import { connectAgent, type Env, type FakeAgent, startEnv } from './ws-harness.ts';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.close();
});

async function ask(node: string, body: unknown, timeout = 5_000): Promise<unknown> {
  const msg = await env.nc.request(subjects.command(node), JSON.stringify(body), { timeout });
  return msg.json();
}

const status = (timeout_ms = 2_000): CommandRequestInput => ({
  command: { type: 'status', session: 'ses_1' },
  actor: { kind: 'user', id: 'alice' },
  timeout_ms,
});

function answerWith(reply: (f: Envelope, a: FakeAgent) => void) {
  return (frame: Envelope, agent: FakeAgent) => reply(frame, agent);
}

test('ws commands - hal.cmd.<node> reaches the agent and its result comes back', async () => {
  const agent = await connectAgent(env.url, {
    node: 'node-c',
    onCommand: answerWith((f, a) => {
      const p = f.payload as { command_id: string; command: unknown; actor: unknown; timeout_ms: number };
      a.send('command.result', { command_id: p.command_id, ok: true, data: { got: p.command, by: p.actor } });
    }),
  });
  await agent.hello();
  const reply = await ask('node-c', { ...status(), idempotency_key: 'k-status-1' });
  assert.deepEqual(reply, {
    ok: true,
    data: { got: { type: 'status', session: 'ses_1' }, by: { kind: 'user', id: 'alice' } },
  });
  const cmd = agent.frames.find((f) => f.type === 'command');
  const payload = cmd?.payload as { timeout_ms: number; idempotency_key: string; command_id: string };
  assert.equal(payload.timeout_ms, 2_000);
  assert.equal(payload.idempotency_key, 'k-status-1', "the caller's key reaches the agent");
  // Without a key the gateway gives the command one (its id), so the agent still runs it once.
  await ask('node-c', status());
  const unkeyed = agent.frames.filter((f) => f.type === 'command').at(-1)?.payload as typeof payload;
  assert.equal(unkeyed.idempotency_key, unkeyed.command_id);
  await agent.close();
});

test('ws commands - an agent failure is relayed with its code', async () => {
  const agent = await connectAgent(env.url, {
    node: 'node-f',
    onCommand: answerWith((f, a) => {
      const id = (f.payload as { command_id: string }).command_id;
      a.send('command.result', {
        command_id: id,
        ok: false,
        error: { code: 'SESSION_NOT_FOUND', message: 'no session ses_1' },
      });
    }),
  });
  await agent.hello();
  assert.deepEqual(await ask('node-f', status()), {
    ok: false,
    error: { code: 'SESSION_NOT_FOUND', message: 'no session ses_1' },
  });
  await agent.close();
});

test('ws commands - no result within timeout_ms gives TIMEOUT', async () => {
  const agent = await connectAgent(env.url, { node: 'node-slow' });
  await agent.hello();
  assert.deepEqual(await ask('node-slow', status(300)), {
    ok: false,
    error: { code: 'TIMEOUT', message: 'node "node-slow" did not answer the status command within 300 ms' },
  });
  await agent.close();
});

test('ws commands - the socket closing after the command was sent gives COMMAND_OUTCOME_UNKNOWN naming its key, never NODE_OFFLINE', async () => {
  const agent = await connectAgent(env.url, {
    node: 'node-gone',
    onCommand: answerWith((_f, a) => a.ws.terminate()),
  });
  await agent.hello();
  const reply = (await ask('node-gone', { ...status(), idempotency_key: 'k-gone' })) as {
    ok: false;
    error: { code: string; message: string; details: Record<string, unknown> };
  };
  assert.equal(reply.error.code, 'COMMAND_OUTCOME_UNKNOWN');
  assert.equal(
    reply.error.message,
    'node "node-gone" disconnected while the status command was running; it may have run: send it again with idempotency key "k-gone" to get its outcome',
  );
  assert.equal(reply.error.details.idempotency_key, 'k-gone');
  assert.equal(reply.error.details.node, 'node-gone');
});

test('ws commands - nobody holding the node means NODE_OFFLINE at once; an invalid body is VALIDATION_FAILED', async () => {
  const started = performance.now();
  const offline = (await ask('node-nobody', status(), 1_000)) as { ok: boolean; error: { code: string } };
  assert.equal(offline.error.code, 'NODE_OFFLINE');
  assert.ok(performance.now() - started < 1_000);
  const agent = await connectAgent(env.url, { node: 'node-v' });
  await agent.hello();
  const reply = (await ask('node-v', { command: { type: 'explode' }, actor: { kind: 'user', id: 'a' } })) as {
    ok: boolean;
    error: { code: string; message: string };
  };
  assert.equal(reply.ok, false);
  assert.equal(reply.error.code, 'VALIDATION_FAILED');
  assert.match(reply.error.message, /^invalid request on hal\.cmd\.node-v: command\.type: /);
  assert.equal(agent.frames.filter((f) => f.type === 'command').length, 0);
  await agent.close();
});

test('ws commands - metrics count commands by type and status', async () => {
  const text = await env.registry.getSingleMetricAsString('hal_o_swarm_commands_total');
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="ok"\} 2/);
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="SESSION_NOT_FOUND"\} 1/);
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="TIMEOUT"\} 1/);
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="COMMAND_OUTCOME_UNKNOWN"\} 1/);
  const hist = await env.registry.getSingleMetricAsString('hal_o_swarm_command_duration_seconds');
  assert.match(hist, /hal_o_swarm_command_duration_seconds_count\{type="status"\} 5/);
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { toBusError } from '@hal/bus';
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
  const reply = await ask('node-c', status());
  assert.deepEqual(reply, {
    ok: true,
    data: { got: { type: 'status', session: 'ses_1' }, by: { kind: 'user', id: 'alice' } },
  });
  const cmd = agent.frames.find((f) => f.type === 'command');
  assert.equal((cmd?.payload as { timeout_ms: number } | undefined)?.timeout_ms, 2_000);
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

test('ws commands - the socket closing before the result gives NODE_OFFLINE', async () => {
  const agent = await connectAgent(env.url, {
    node: 'node-gone',
    onCommand: answerWith((_f, a) => a.ws.terminate()),
  });
  await agent.hello();
  assert.deepEqual(await ask('node-gone', status()), {
    ok: false,
    error: { code: 'NODE_OFFLINE', message: 'node "node-gone" disconnected before answering' },
  });
});

test('ws commands - nobody holding the node means no responders; an invalid body is VALIDATION_FAILED', async () => {
  await assert.rejects(
    ask('node-nobody', status(), 1_000),
    (err) => toBusError(err, 'x').code === 'NO_RESPONDERS',
  );
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
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="ok"\} 1/);
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="SESSION_NOT_FOUND"\} 1/);
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="TIMEOUT"\} 1/);
  assert.match(text, /hal_o_swarm_commands_total\{type="status",status="NODE_OFFLINE"\} 1/);
  const hist = await env.registry.getSingleMetricAsString('hal_o_swarm_command_duration_seconds');
  assert.match(hist, /hal_o_swarm_command_duration_seconds_count\{type="status"\} 4/);
});

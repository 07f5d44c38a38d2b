import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { formatProtocolVersion, WIRE_PROTOCOL } from '@hal/protocol';
import { refusedUpgrade } from '@hal/testkit';
import { connectAgent, type Env, NODE_TOKEN_A, SHARED_TOKEN, startEnv } from './ws-harness.ts';

let env: Env;
before(async () => {
  env = await startEnv();
});
after(async () => {
  await env.close();
});

test('ws auth - no token is refused with 401 before the upgrade', async () => {
  const res = await refusedUpgrade(env.url, { 'x-hal-node': 'node-b' });
  assert.equal(res.status, 401);
  assert.equal(res.body.error.code, 'UNAUTHORIZED');
  assert.equal(res.body.error.message, 'missing "Authorization: Bearer <token>" header');
});

test('ws auth - a wrong token is refused with 401', async () => {
  const res = await refusedUpgrade(env.url, {
    authorization: 'Bearer wrong-token-0123456789',
    'x-hal-node': 'node-b',
  });
  assert.equal(res.status, 401);
  assert.equal(res.body.error.code, 'UNAUTHORIZED');
  assert.equal(res.body.error.message, 'invalid token');
});

test('ws auth - a token in the URL query is never accepted', async () => {
  const res = await refusedUpgrade(`${env.url}/agent?token=${SHARED_TOKEN}&access_token=${SHARED_TOKEN}`, {
    'x-hal-node': 'node-b',
  });
  assert.equal(res.status, 401);
  assert.equal(res.body.error.code, 'UNAUTHORIZED');
});

test('ws auth - a node token is valid for its own node only (403 for another)', async () => {
  const res = await refusedUpgrade(env.url, {
    authorization: `Bearer ${NODE_TOKEN_A}`,
    'x-hal-node': 'node-b',
  });
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, 'FORBIDDEN');
  assert.equal(
    res.body.error.message,
    'this token belongs to another node and may not connect as node "node-b"',
  );

  const own = await connectAgent(`${env.url}/agent`, { node: 'node-a', token: NODE_TOKEN_A });
  const welcome = await own.hello();
  assert.equal(welcome.type, 'welcome');
  await own.close();
});

test('ws auth - an origin outside the allowlist is refused with 403; a listed one passes', async () => {
  const res = await refusedUpgrade(env.url, {
    authorization: `Bearer ${SHARED_TOKEN}`,
    'x-hal-node': 'node-b',
    origin: 'https://evil.example',
  });
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, 'ORIGIN_NOT_ALLOWED');
  assert.equal(res.body.error.message, 'origin https://evil.example is not in security.origin_allowlist');

  const ok = await connectAgent(env.url, { node: 'node-b', origin: 'https://dash.example' });
  assert.equal((await ok.hello()).type, 'welcome');
  await ok.close();
});

test('ws auth - a missing X-Hal-Node header is refused with 400', async () => {
  const res = await refusedUpgrade(env.url, { authorization: `Bearer ${SHARED_TOKEN}` });
  assert.equal(res.status, 400);
  assert.equal(res.body.error.code, 'VALIDATION_FAILED');
});

test('ws auth - an unknown path is refused with 404', async () => {
  const res = await refusedUpgrade(`${env.url}/other`, {
    authorization: `Bearer ${SHARED_TOKEN}`,
    'x-hal-node': 'n',
  });
  assert.equal(res.status, 404);
  assert.equal(res.body.error.code, 'NOT_FOUND');
});

test('ws auth - hello naming another node than the header gets UNAUTHORIZED and close 1008', async () => {
  const agent = await connectAgent(env.url, { node: 'node-b' });
  const reply = await agent.hello({ node: 'node-c' });
  assert.equal(reply.type, 'error');
  assert.deepEqual(reply.payload, {
    code: 'UNAUTHORIZED',
    message: 'hello names node "node-c" but this connection authenticated as "node-b"',
    path: 'payload.node',
  });
  const closed = await agent.closed;
  assert.equal(closed.code, 1008);
  assert.deepEqual(env.gateway.nodes(), []);
});

test('ws auth - welcome carries the gateway limits and the node is listed', async () => {
  const agent = await connectAgent(env.url, { node: 'node-w' });
  const welcome = await agent.hello();
  assert.deepEqual(welcome.payload, {
    node: 'node-w',
    gateway: 'gw-1',
    heartbeat_interval_sec: 30,
    heartbeat_timeout_count: 3,
    max_batch: 500,
    max_frame_bytes: 1024 * 1024,
    protocol: formatProtocolVersion(WIRE_PROTOCOL),
    gateway_protocol: formatProtocolVersion(WIRE_PROTOCOL),
    missing_features: [],
  });
  const nodes = env.gateway.nodes();
  assert.equal(nodes.length, 1);
  assert.equal(nodes[0]?.node, 'node-w');
  assert.equal(nodes[0]?.agent_version, '0.1.0-test');
  await agent.close();
});

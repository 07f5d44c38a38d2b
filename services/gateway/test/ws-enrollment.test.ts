import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { jetstreamClient } from '@hal/bus';
import { createRegistry, Readiness } from '@hal/observability';
import { type AuditRecord, type EventRecord, StreamName, WsCloseCode } from '@hal/protocol';
import { refusedUpgrade, startNatsLinkProxy, waitFor } from '@hal/testkit';
import { createHttpApi, type HttpApi } from '../src/http-server.ts';
import { apiConfig, bearer, TOKENS } from './api-stand-ins.ts';
import { connectAgent, type Env, SHARED_TOKEN, silentLog, startEnv, testConfig } from './ws-harness.ts';

let env: Env;
let api: HttpApi;

before(async () => {
  env = await startEnv({
    config: testConfig({
      server: { host: '127.0.0.1', port: 0, auth_token: SHARED_TOKEN },
      security: {
        tls: { enabled: false },
        origin_allowlist: [],
        node_tokens: {},
        api_tokens: [{ token: TOKENS.operator }],
      },
    }),
  });
  api = createHttpApi({
    config: apiConfig(),
    nc: env.nc,
    log: silentLog,
    registry: createRegistry(),
    readiness: new Readiness(),
  });
});
after(async () => {
  await api.stop();
  await env.close();
});

const enroll = (node: string, body: object = {}, token: string = TOKENS.admin) =>
  api.app.inject({
    method: 'POST',
    url: `/api/v1/nodes/${encodeURIComponent(node)}/enroll`,
    headers: bearer(token),
    payload: body,
  });
const revoke = (node: string, token: string = TOKENS.admin) =>
  api.app.inject({
    method: 'POST',
    url: `/api/v1/nodes/${encodeURIComponent(node)}/revoke`,
    headers: bearer(token),
    payload: {},
  });

async function auditRecords(): Promise<AuditRecord[]> {
  const js = jetstreamClient(env.nc);
  const info = await (await js.jetstreamManager()).streams.info(StreamName.AUDIT);
  const out: AuditRecord[] = [];
  if (info.state.messages === 0) return out;
  const consumer = await js.consumers.get(StreamName.AUDIT);
  const messages = await consumer.consume();
  for await (const m of messages) {
    out.push(m.json<AuditRecord>());
    if (out.length >= info.state.messages) break;
  }
  await messages.close();
  return out;
}

test('enrollment - enroll mints a token shown once (hash stored), audited without it; only admins may', async () => {
  const denied = await enroll('node-e1', {}, TOKENS.operator);
  assert.equal(denied.statusCode, 403);
  assert.equal(denied.json().error.code, 'FORBIDDEN');

  const res = await enroll('node-e1', { projects: [{ name: 'web', directory: '/srv/web' }] });
  assert.equal(res.statusCode, 201);
  assert.equal(res.headers['cache-control'], 'no-store');
  const grant = res.json().data;
  assert.match(grant.token, /^hal_node_[A-Za-z0-9_-]{43}$/);
  assert.equal(grant.node, 'node-e1');
  assert.equal(grant.status, 'active');
  assert.deepEqual(grant.projects, [{ name: 'web', directory: '/srv/web' }]);
  assert.equal(grant.enrolled_by, 'server.auth_token');

  const list = await api.app.inject({
    method: 'GET',
    url: '/api/v1/enrollments',
    headers: bearer(TOKENS.viewer),
  });
  const listed = list.json().data.find((e: { node: string }) => e.node === 'node-e1');
  assert.ok(listed);
  assert.equal(JSON.stringify(list.json()).includes(grant.token), false, 'the list never shows the token');
  assert.equal('token_sha256' in listed, false, 'nor its hash');

  const again = await enroll('node-e1');
  assert.equal(again.statusCode, 409);
  assert.equal(again.json().error.code, 'CONFLICT');

  const audit = await waitFor(
    async () => {
      const records = (await auditRecords()).filter((r) => r.action === 'node.enroll');
      return records.length >= 3 ? records : undefined;
    },
    { message: 'node.enroll audited' },
  );
  // The operator was refused by the role check before the handler ran; refusals are audited too.
  assert.deepEqual(
    audit.map((r) => [r.actor.id, r.target, r.result.ok, r.result.code ?? null]),
    [
      ['otto', { node: 'node-e1' }, false, 'FORBIDDEN'],
      ['server.auth_token', { node: 'node-e1' }, true, null],
      ['server.auth_token', { node: 'node-e1' }, false, 'CONFLICT'],
    ],
  );
  assert.deepEqual(audit[1]?.params, { projects: [{ name: 'web', directory: '/srv/web' }] });
  assert.equal(JSON.stringify(audit).includes(grant.token), false, 'the token is never audited');
});

test('enrollment - the node token connects as its node only; projects come from the record, not hello', async () => {
  const grant = (await enroll('node-e2', { projects: [{ name: 'api', directory: '/srv/api' }] })).json().data;
  const seen: EventRecord[] = [];
  env.nc.subscribe('hal.evt.node-e2.>', { callback: (_e, m) => void seen.push(m.json<EventRecord>()) });
  await env.nc.flush();

  const agent = await connectAgent(env.url, { node: 'node-e2', token: grant.token });
  const welcome = await agent.hello({ projects: [{ name: 'everything', directory: '/' }] });
  assert.equal(welcome.type, 'welcome');
  assert.deepEqual((welcome.payload as { projects: unknown }).projects, [
    { name: 'api', directory: '/srv/api' },
  ]);
  const online = await waitFor(() => seen.find((e) => e.type === 'node.online'));
  assert.deepEqual(online.data.projects, [{ name: 'api', directory: '/srv/api' }]);
  assert.deepEqual(env.gateway.nodes().find((n) => n.node === 'node-e2')?.projects, [
    { name: 'api', directory: '/srv/api' },
  ]);

  const other = await refusedUpgrade(env.url, {
    authorization: `Bearer ${grant.token}`,
    'x-hal-node': 'node-x',
  });
  assert.equal(other.status, 403);
  assert.equal(
    other.body.error.message,
    'this token belongs to another node and may not connect as node "node-x"',
  );

  const shared = await refusedUpgrade(env.url, {
    authorization: `Bearer ${SHARED_TOKEN}`,
    'x-hal-node': 'node-e2',
  });
  assert.equal(shared.status, 403);
  assert.equal(
    shared.body.error.message,
    'node "node-e2" has its own token; the shared server.auth_token may not connect as it',
  );

  // The node token is a WebSocket credential only: the API does not know it.
  const apiCall = await api.app.inject({
    method: 'GET',
    url: '/api/v1/enrollments',
    headers: bearer(grant.token),
  });
  assert.equal(apiCall.statusCode, 401);
  assert.equal(apiCall.json().error.code, 'UNAUTHORIZED');
  await agent.close();
});

test('enrollment - an API token never opens an agent socket', async () => {
  const res = await refusedUpgrade(env.url, {
    authorization: `Bearer ${TOKENS.operator}`,
    'x-hal-node': 'node-z',
  });
  assert.equal(res.status, 403);
  assert.equal(res.body.error.code, 'FORBIDDEN');
  assert.equal(
    res.body.error.message,
    'an API token is not valid on the agent WebSocket: agents connect with their node token',
  );
});

test('enrollment - revoke closes the socket on every gateway within a second and refuses the node after', async () => {
  const gw2 = await env.startGateway({ id: 'gw-2' });
  const grant = (await enroll('node-e3')).json().data;
  const agent = await connectAgent(`ws://127.0.0.1:${gw2.address().port}`, {
    node: 'node-e3',
    token: grant.token,
  });
  assert.equal((await agent.hello()).type, 'welcome');

  const started = Date.now();
  const res = await revoke('node-e3');
  assert.equal(res.statusCode, 200);
  assert.equal(res.json().data.status, 'revoked');
  const closed = await agent.closed;
  const elapsed = Date.now() - started;
  assert.equal(closed.code, WsCloseCode.CREDENTIAL_REVOKED);
  assert.ok(elapsed < 1_000, `closed ${elapsed} ms after the revoke`);
  const error = agent.frames.find((f) => f.type === 'error')?.payload as { code: string };
  assert.equal(error.code, 'NODE_REVOKED');

  for (const url of [env.url, `ws://127.0.0.1:${gw2.address().port}`]) {
    const again = await refusedUpgrade(url, {
      authorization: `Bearer ${grant.token}`,
      'x-hal-node': 'node-e3',
    });
    assert.equal(again.status, 403);
    assert.equal(again.body.error.code, 'NODE_REVOKED');
  }
  // The shared token cannot bring a revoked node back either.
  const shared = await refusedUpgrade(env.url, {
    authorization: `Bearer ${SHARED_TOKEN}`,
    'x-hal-node': 'node-e3',
  });
  assert.equal(shared.body.error.code, 'NODE_REVOKED');
  const twice = await revoke('node-e3');
  assert.equal(twice.statusCode, 409);
  assert.equal((await revoke('never-enrolled')).json().error.code, 'NODE_NOT_FOUND');
});

test('enrollment - an agent enrolled a moment ago connects through a gateway whose copy is behind; a flood of bad tokens is still refused', async (t) => {
  const proxy = await startNatsLinkProxy(env.nats.url);
  t.after(() => proxy.stop());
  const gw3 = await env.startGateway({ id: 'gw-3', natsUrl: proxy.url });
  const url = `ws://127.0.0.1:${gw3.address().port}`;

  proxy.hold(); // gw-3 hears nothing from NATS: its copy does not have the enrollments below
  const grant = (await enroll('node-fresh')).json().data;
  const agent = connectAgent(url, { node: 'node-fresh', token: grant.token });
  // The copy would refuse, so the gateway reads the bucket; that read goes out, its answer waits.
  await waitFor(() => proxy.sentWhileHeld().includes('KV_HAL_NODES') || undefined, {
    message: 'gw-3 never asked the bucket',
  });
  proxy.release();
  const fresh = await agent;
  assert.equal((await fresh.hello()).type, 'welcome');

  // Revoked, then enrolled again: a copy still saying "revoked" must not refuse the new token.
  assert.equal((await revoke('node-fresh')).statusCode, 200);
  assert.equal((await fresh.closed).code, WsCloseCode.CREDENTIAL_REVOKED); // gw-3's copy says revoked
  proxy.hold();
  const again = (await enroll('node-fresh')).json().data;
  const back = connectAgent(url, { node: 'node-fresh', token: again.token });
  await waitFor(() => proxy.sentWhileHeld().includes('KV_HAL_NODES') || undefined);
  proxy.release();
  assert.equal((await (await back).hello()).type, 'welcome');
  await (await back).close();

  const refused = await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      refusedUpgrade(url, { authorization: `Bearer hal_node_bogus${i}`, 'x-hal-node': `node-x${i % 10}` }),
    ),
  );
  for (const r of refused) {
    assert.equal(r.status, 401);
    assert.equal(r.body.error.code, 'UNAUTHORIZED');
  }
});

test('enrollment - a token revoked a moment ago opens no socket through a gateway whose copy still says active', async (t) => {
  const proxy = await startNatsLinkProxy(env.nats.url);
  t.after(() => proxy.stop());
  const gw4 = await env.startGateway({ id: 'gw-4', natsUrl: proxy.url });
  const url = `ws://127.0.0.1:${gw4.address().port}`;
  const grant = (await enroll('node-gone')).json().data;
  const headers = { authorization: `Bearer ${grant.token}`, 'x-hal-node': 'node-gone' };
  const first = await connectAgent(url, { node: 'node-gone', token: grant.token });
  assert.equal((await first.hello()).type, 'welcome'); // gw-4's copy has the active enrollment
  await first.close();

  proxy.hold(); // gw-4 hears nothing from NATS: its copy still says active
  assert.equal((await revoke('node-gone')).statusCode, 200);
  const mark = proxy.sentWhileHeld().length;
  const attempt = refusedUpgrade(url, headers).then(
    (r) => r,
    (err: Error) => err,
  );
  // The copy would accept, so the gateway reads the bucket first; that read goes out, its answer waits.
  await waitFor(() => proxy.sentWhileHeld().slice(mark).includes('KV_HAL_NODES') || undefined, {
    message: 'gw-4 answered from its copy without reading the bucket',
  });
  proxy.release();
  const refused = await attempt;
  assert.ok(!(refused instanceof Error), `the revoked token was let in: ${String(refused)}`);
  assert.equal(refused.status, 403);
  assert.equal(refused.body.error.code, 'NODE_REVOKED');
});

test('enrollment - rotate: the old token stops at once, the new one connects; enrolling a shared-token node cuts it off', async () => {
  const sharedAgent = await connectAgent(env.url, { node: 'node-e4' });
  assert.equal((await sharedAgent.hello()).type, 'welcome');
  const first = (await enroll('node-e4')).json().data;
  assert.equal((await sharedAgent.closed).code, WsCloseCode.CREDENTIAL_REVOKED);

  const agent = await connectAgent(env.url, { node: 'node-e4', token: first.token });
  assert.equal((await agent.hello()).type, 'welcome');
  const rotated = await enroll('node-e4', { rotate: true });
  assert.equal(rotated.statusCode, 201);
  const second = rotated.json().data;
  assert.notEqual(second.token, first.token);
  assert.equal((await agent.closed).code, WsCloseCode.CREDENTIAL_REVOKED);
  const old = await refusedUpgrade(env.url, {
    authorization: `Bearer ${first.token}`,
    'x-hal-node': 'node-e4',
  });
  assert.equal(old.status, 401);
  const fresh = await connectAgent(env.url, { node: 'node-e4', token: second.token });
  assert.equal((await fresh.hello()).type, 'welcome');
  await fresh.close();
});

test('enrollment - security.require_node_tokens: the shared token no longer opens agent sockets', async (t) => {
  const strict = await startEnv({
    nats: env.nats,
    config: testConfig({
      security: {
        tls: { enabled: false },
        origin_allowlist: [],
        node_tokens: { 'node-k': 'node-k-token-0123456789' },
        require_node_tokens: true,
      },
    }),
  });
  t.after(() => strict.close());
  const res = await refusedUpgrade(strict.url, {
    authorization: `Bearer ${SHARED_TOKEN}`,
    'x-hal-node': 'node-free',
  });
  assert.equal(res.status, 401);
  assert.equal(
    res.body.error.message,
    'server.auth_token is not accepted from agents (security.require_node_tokens is true): enroll the node (halctl nodes enroll) or give it a security.node_tokens entry',
  );
  const own = await connectAgent(strict.url, { node: 'node-k', token: 'node-k-token-0123456789' });
  assert.equal((await own.hello()).type, 'welcome');
  await own.close();
});

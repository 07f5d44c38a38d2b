import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { formatProtocolVersion, okReply, WIRE_PROTOCOL } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import { createAgent, createConnection, type EventDraft, openSpool, type Spool } from '../src/index.ts';
import { startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent', level: 'silent' });
const TOKEN = 'agent-token-0123456789abcdef';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'hal-conn-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const draft = (i: number): EventDraft => ({
  version: 1,
  id: crypto.randomUUID(),
  node: 'n1',
  project: 'p',
  session: 'ses_1',
  type: 'session.busy',
  time: new Date().toISOString(),
  data: { i },
});

const overflowDraft = (data: Record<string, unknown>): EventDraft => ({
  ...draft(0),
  type: 'agent.spool_overflow',
  data,
});

function connect(url: string, spool: Spool, extra: Partial<Parameters<typeof createConnection>[0]> = {}) {
  return createConnection({
    url,
    token: TOKEN,
    node: 'n1',
    agentVersion: '0.1.0',
    projects: [{ name: 'p', directory: '/tmp/p' }],
    spool,
    log,
    reconnect: { initialMs: 50, maxMs: 200 },
    heartbeatIntervalSec: 30,
    snapshot: () => [{ session: 'ses_1', project: 'p', state: 'running' }],
    heartbeat: async () => ({
      load: [0, 0, 0],
      mem_total_bytes: 1,
      mem_free_bytes: 1,
      opencode_ok: true,
      sessions: 1,
      spool_depth: spool.depth(),
    }),
    runCommand: async (cmd) => okReply({ ran: cmd.type }),
    onUnsendable: (row) => spool.drop(row.seq),
    ...extra,
  });
}

test('connection - hello carries the token in headers only, then snapshot and spooled events; ack empties the spool', async (t) => {
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 10_000_000, overflowDraft });
  const sent = spool.append([draft(1), draft(2), draft(3)]);
  const conn = connect(`${peer.url}/agent`, spool);
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  await conn.start();
  await waitFor(() => peer.events.length === 3, { message: 'three events at the peer' });
  const c = peer.last();
  assert.ok(c);
  assert.equal(c.headers.authorization, `Bearer ${TOKEN}`);
  assert.equal(c.headers['x-hal-node'], 'n1');
  assert.equal(c.url, '/agent');
  assert.ok(!c.url.includes(TOKEN), 'the token never travels in the URL');
  assert.deepEqual(
    c.frames.slice(0, 2).map((f) => f.type),
    ['hello', 'snapshot'],
  );
  assert.deepEqual(c.frames[0]?.payload, {
    node: 'n1',
    agent_version: '0.1.0',
    protocol: formatProtocolVersion(WIRE_PROTOCOL),
    projects: [{ name: 'p', directory: '/tmp/p' }],
    last_acked_seq: 0,
  });
  assert.deepEqual(c.frames[1]?.payload, {
    sessions: [{ session: 'ses_1', project: 'p', state: 'running' }],
  });
  assert.deepEqual(
    peer.events.map((e) => [e.seq, e.id]),
    sent.map((e) => [e.seq, e.id]),
  );
  await waitFor(() => spool.depth() === 0, { message: 'acked rows leave the spool' });
  assert.equal(spool.ackedSeq(), 3);
  // New events are streamed as they are spooled.
  spool.append([draft(4)]);
  conn.notify();
  await waitFor(() => peer.events.length === 4);
  assert.equal(peer.framesOf('heartbeat').length >= 1, true, 'a heartbeat goes out right after welcome');
});

test('connection - after the peer drops the socket it reconnects, re-sends hello and snapshot, then every unacked event', async (t) => {
  const peer = await startGatewayPeer({ autoAck: false });
  t.after(() => peer.stop());
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 10_000_000, overflowDraft });
  const sent = spool.append([draft(1), draft(2), draft(3)]);
  const conn = connect(peer.url, spool);
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  await conn.start();
  await waitFor(() => peer.events.length === 3);
  peer.ack(1);
  await waitFor(() => spool.ackedSeq() === 1);
  peer.dropAll();
  await waitFor(() => peer.connections.length === 2 && peer.events.length === 5, {
    message: 'reconnected and resent seq 2 and 3',
  });
  const second = peer.connections[1];
  assert.deepEqual(
    second?.frames.slice(0, 2).map((f) => f.type),
    ['hello', 'snapshot'],
  );
  assert.equal((second?.frames[0]?.payload as { last_acked_seq?: number } | undefined)?.last_acked_seq, 1);
  assert.deepEqual(
    peer.events.slice(3).map((e) => [e.seq, e.id]),
    sent.slice(1).map((e) => [e.seq, e.id]),
    'the resent events keep their ids, so JetStream dedupes them',
  );
});

test('connection - an agent stopped before the ack resends the same events with the same ids after restart', async (t) => {
  const peer = await startGatewayPeer({ autoAck: false });
  t.after(() => peer.stop());
  const file = join(tempDir(t), 'spool.db');
  let spool = openSpool({ file, maxBytes: 10_000_000, overflowDraft });
  const sent = spool.append([draft(1), draft(2)]);
  let conn = connect(peer.url, spool);
  await conn.start();
  await waitFor(() => peer.events.length === 2);
  await conn.stop();
  spool.close();

  spool = openSpool({ file, maxBytes: 10_000_000, overflowDraft });
  conn = connect(peer.url, spool);
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  peer.autoAck = true;
  await conn.start();
  await waitFor(() => peer.events.length === 4);
  assert.deepEqual(
    peer.events.slice(2).map((e) => [e.seq, e.id]),
    sent.map((e) => [e.seq, e.id]),
  );
  await waitFor(() => spool.depth() === 0);
  assert.equal(spool.append([draft(3)])[0]?.seq, 3, 'seq continues after the restart');
});

test('connection - unknown command and bad command payload get clear error codes; good ones run', async (t) => {
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 10_000_000, overflowDraft });
  const conn = connect(peer.url, spool);
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  await conn.start();
  await waitFor(() => conn.ready());
  const actor = { kind: 'user', id: 'u1' };
  peer.sendCommand({ command_id: 'c1', command: { type: 'explode', session: 's' }, actor, timeout_ms: 1000 });
  peer.sendCommand({
    command_id: 'c2',
    command: { type: 'inject', session: 'ses_1' },
    actor,
    timeout_ms: 1000,
  });
  peer.sendCommand({ command_id: 'c3', command: { type: 'status' }, actor, timeout_ms: 1000 });
  const r1 = await peer.result('c1');
  assert.equal(r1.ok, false);
  assert.equal((r1.error as { code: string }).code, 'UNKNOWN_COMMAND');
  assert.equal((r1.error as { message: string }).message, 'unknown command "explode"');
  const r2 = await peer.result('c2');
  assert.equal((r2.error as { code: string }).code, 'VALIDATION_FAILED');
  assert.match((r2.error as { message: string }).message, /^invalid command: payload\.command\.prompt: /);
  const r3 = await peer.result('c3');
  assert.deepEqual(r3, { command_id: 'c3', ok: true, data: { ran: 'status' } });
});

test('agent - commands while opencode is down answer OPENCODE_UNREACHABLE, and agent.opencode_down is sent', async (t) => {
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const dir = tempDir(t);
  const agent = createAgent({
    config: {
      node_id: 'n1',
      supervisor_url: peer.url,
      auth_token: TOKEN,
      opencode_port: 1,
      opencode: { url: 'http://127.0.0.1:1', manage: false, binary: 'opencode' },
      projects: [{ name: 'p', directory: dir }],
      data_dir: join(dir, 'data'),
      heartbeat_interval_sec: 30,
      spool: { max_bytes: 10_000_000 },
      reconnect: { initial_ms: 50, max_ms: 200 },
      command_timeout_ms: 5000,
    },
    log,
    sseBackoff: { initialMs: 1000, maxMs: 1000 },
  });
  t.after(() => agent.stop());
  await agent.start();
  await waitFor(() => agent.connection()?.ready());
  const actor = { kind: 'user', id: 'u1' };
  peer.sendCommand({
    command_id: 'k1',
    command: { type: 'kill', session: 'ses_x' },
    actor,
    timeout_ms: 5000,
  });
  peer.sendCommand({
    command_id: 'k2',
    command: { type: 'start', project: 'nope' },
    actor,
    timeout_ms: 5000,
  });
  const r1 = await peer.result('k1');
  assert.equal((r1.error as { code: string }).code, 'OPENCODE_UNREACHABLE');
  const r2 = await peer.result('k2');
  assert.equal((r2.error as { code: string }).code, 'PROJECT_NOT_FOUND');
  await waitFor(() => peer.events.find((e) => e.type === 'agent.opencode_down'), {
    message: 'opencode_down event',
  });
  // The first heartbeat leaves once the host stats are read (async): wait for it, never assume it.
  const first = await waitFor(() => peer.framesOf('heartbeat')[0], { message: 'a heartbeat' });
  const hb = first.payload as { opencode_ok: boolean; disk_total_bytes?: number };
  assert.equal(hb.opencode_ok, false);
  assert.ok((hb.disk_total_bytes ?? 0) > 0);
});

test('connection - refused at hello (UNSUPPORTED_VERSION), the agent waits the long backoff instead of storming', async (t) => {
  const peer = await startGatewayPeer({
    refuseHello: { code: 'UNSUPPORTED_VERSION', message: 'agent speaks protocol 1.0, …', closeCode: 4003 },
  });
  t.after(() => peer.stop());
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 1e6, overflowDraft, log });
  t.after(() => spool.close());
  // A plain close would be retried after 0-10 ms at first; a refusal waits 200-400 ms (max_ms).
  const conn = connect(peer.url, spool, { reconnect: { initialMs: 10, maxMs: 400 } });
  t.after(() => conn.stop());
  await conn.start();
  await waitFor(() => peer.connections.length >= 3, { timeoutMs: 5_000, message: 'three attempts' });
  const at = peer.connections.map((c) => c.at);
  for (let i = 1; i < at.length; i++) {
    const gap = at[i]! - at[i - 1]!;
    assert.ok(gap >= 190, `attempt ${i + 1} came ${gap} ms after the refusal, expected at least max_ms/2`);
  }
  assert.equal(conn.ready(), false);
  assert.ok(
    peer.connections.every((c) => c.frames.length === 1 && c.frames[0]?.type === 'hello'),
    'only hello is sent to a gateway that refuses',
  );
});

test('connection - with several gateway URLs, when its gateway dies the agent moves to the next and resends only what was not acked', async (t) => {
  const first = await startGatewayPeer();
  const second = await startGatewayPeer();
  t.after(() => Promise.all([first.stop(), second.stop()]));
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 10_000_000, overflowDraft });
  const acked = spool.append([draft(1), draft(2)]);
  const conn = connect(first.url, spool, { url: [first.url, second.url] });
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  await conn.start();
  await waitFor(() => spool.ackedSeq() === 2, { message: 'the first gateway acked seq 2' });
  first.autoAck = false;
  const unacked = spool.append([draft(3), draft(4)]);
  conn.notify();
  await waitFor(() => first.events.length === 4, { message: 'seq 3 and 4 reached the first gateway' });

  const diedAt = Date.now();
  await first.stop();
  await waitFor(() => second.events.length === 2 && spool.depth() === 0, {
    message: 'the second gateway got seq 3 and 4 and acked them',
  });
  const movedMs = Date.now() - diedAt;
  assert.equal(
    (second.connections[0]?.frames[0]?.payload as { last_acked_seq?: number } | undefined)?.last_acked_seq,
    2,
  );
  assert.deepEqual(
    second.events.map((e) => [e.seq, e.id]),
    unacked.map((e) => [e.seq, e.id]),
    'only the unacked events, with their ids (JetStream drops a copy the dead gateway had stored)',
  );
  assert.ok(!second.events.some((e) => acked.some((a) => a.id === e.id)));
  // Commands reach the agent through its new gateway.
  second.sendCommand({
    command_id: 'c-after-move',
    command: { type: 'status' },
    actor: { kind: 'system', id: 'test' },
    timeout_ms: 5_000,
  });
  assert.deepEqual(await second.result('c-after-move'), {
    command_id: 'c-after-move',
    ok: true,
    data: { ran: 'status' },
  });
  assert.ok(movedMs < 10_000, `moved in ${movedMs} ms`);
});

test('connection - a gateway that falls silent (no frames, no pongs) is dropped after the silence limit and the next URL is dialled', async (t) => {
  const silent = await startGatewayPeer({ silentAfterWelcome: true });
  const live = await startGatewayPeer();
  t.after(() => Promise.all([silent.stop(), live.stop()]));
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 10_000_000, overflowDraft });
  spool.append([draft(1)]);
  const conn = connect(silent.url, spool, {
    url: [silent.url, live.url],
    liveness: { pingIntervalMs: 100, silenceMs: 400 },
  });
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  const startedAt = Date.now();
  await conn.start();
  await waitFor(() => silent.events.length === 0 && silent.framesOf('events').length === 1, {
    message: 'the silent gateway got the batch and never acked it',
  });
  await waitFor(() => spool.depth() === 0, { message: 'the live gateway acked the batch' });
  const tookMs = Date.now() - startedAt;
  assert.equal(live.events.length, 1);
  assert.equal(live.connections.length, 1);
  // The silence is counted from the welcome, which came after start().
  assert.ok(tookMs >= 400, `not dropped before the silence limit (${tookMs} ms)`);
});

test('connection - one URL stays valid: after its gateway restarts the agent dials the same URL again', async (t) => {
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const spool = openSpool({ file: join(tempDir(t), 'spool.db'), maxBytes: 10_000_000, overflowDraft });
  const conn = connect(peer.url, spool);
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  await conn.start();
  await waitFor(() => conn.ready());
  peer.dropAll();
  await waitFor(() => peer.connections.length === 2 && conn.ready(), {
    message: 'reconnected to the one URL',
  });
});

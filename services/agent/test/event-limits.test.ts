import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { createLogger } from '@hal/observability';
import { type EventRecord, eventRecordSchema, findTooDeep, LIMITS, okReply } from '@hal/protocol';
import { waitFor } from '@hal/testkit';
import {
  createConnection,
  type EventDraft,
  fitEventData,
  openSpool,
  type SpooledEvent,
} from '../src/index.ts';
import { startGatewayPeer } from './gateway-peer.ts';

const log = createLogger({ service: 'agent-test', level: process.env.HAL_TEST_LOG ?? 'silent' });

function nested(depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: 'x' };
  for (let i = 1; i < depth; i++) value = { a: value };
  return value;
}

const bytes = (v: unknown) => Buffer.byteLength(JSON.stringify(v));

test('agent limits - data that fits is returned as is, without a copy', () => {
  const data = { message_id: 'm', text: 'hello', tool_input: { path: '/a', lines: [1, 2, 3] } };
  const fitted = fitEventData(data, 300);
  assert.equal(fitted.clipped, false);
  assert.equal(fitted.data, data);
});

test('agent limits - an unclipped tool_input is clipped at the source with a visible marker, the record fits', () => {
  const content = 'y'.repeat(3_000_000);
  const data = { message_id: 'm', part_id: 'p', tool: 'write', tool_input: { path: '/big.txt', content } };
  const fitted = fitEventData(data, 400);
  assert.equal(fitted.clipped, true);
  assert.ok(bytes(fitted.data) + 400 <= LIMITS.eventBytes, `fits: ${bytes(fitted.data) + 400}`);
  const input = fitted.data.tool_input as { path: string; content: string };
  assert.equal(input.path, '/big.txt', 'the small fields are kept');
  assert.match(input.content, /^y+…\[clipped \d+ bytes\]$/);
  const removed = Number(/clipped (\d+) bytes/.exec(input.content)?.[1]);
  assert.equal(removed + input.content.indexOf('…'), content.length, 'the marker says how much went');
  assert.equal(data.tool_input.content.length, 3_000_000, 'the caller’s object is not changed');
});

test('agent limits - nesting deeper than the protocol allows is cut with a marker (6,000 levels, no stack overflow)', () => {
  const fitted = fitEventData({ tool_input: nested(6_000) }, 300);
  assert.equal(fitted.clipped, true);
  assert.equal(findTooDeep(fitted.data, LIMITS.dataDepth), undefined);
  assert.match(JSON.stringify(fitted.data), /clipped: nested deeper than 32 levels/);
  const record = {
    id: crypto.randomUUID(),
    seq: 1,
    node: 'n',
    project: 'p',
    session: 's',
    type: 'message.part',
    time: new Date().toISOString(),
    data: fitted.data,
  };
  assert.equal(eventRecordSchema.safeParse(record).success, true, 'the gateway accepts what the agent keeps');
});

test('agent limits - many medium fields and huge arrays are clipped until the record fits', () => {
  const many: Record<string, unknown> = {};
  for (let i = 0; i < 200; i++) many[`f${i}`] = 'z'.repeat(5_000);
  const a = fitEventData(many, 300);
  assert.ok(bytes(a.data) + 300 <= LIMITS.eventBytes);
  const numbers = fitEventData({ samples: Array.from({ length: 200_000 }, (_, i) => i) }, 300);
  assert.ok(bytes(numbers.data) + 300 <= LIMITS.eventBytes);
  assert.match(String(numbers.data.samples), /^…\[clipped \d+ bytes\]$/);
});

test('agent limits - a spooled record too large to send is dropped and reported, and the stream behind it flows', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'hal-agent-limits-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const peer = await startGatewayPeer();
  t.after(() => peer.stop());
  const draft = (data: Record<string, unknown>, type = 'session.busy'): EventDraft => ({
    version: 1,
    id: crypto.randomUUID(),
    node: 'n1',
    project: 'p',
    session: 's1',
    type,
    time: new Date().toISOString(),
    data,
  });
  const spool = openSpool({
    file: join(dir, 'spool.db'),
    maxBytes: 100_000_000,
    overflowDraft: (d) => draft(d, 'agent.spool_overflow'),
  });
  // As an older agent (or a hand-edited spool) could hold it: past both the event and frame limits.
  const [small1, big, small2] = spool.append([
    draft({ i: 1 }),
    draft({ blob: 'x'.repeat(2 * 1024 * 1024) }, 'message.part'),
    draft({ i: 2 }),
  ]);
  const dropped: Array<{ seq: number; limit: number }> = [];
  const conn = createConnection({
    url: peer.url,
    token: 'agent-token-0123456789abcdef',
    node: 'n1',
    agentVersion: '0.1.0',
    projects: [{ name: 'p', directory: '/tmp/p' }],
    spool,
    log,
    reconnect: { initialMs: 50, maxMs: 200 },
    heartbeatIntervalSec: 30,
    snapshot: () => [],
    heartbeat: async () => ({
      load: [0, 0, 0],
      mem_total_bytes: 1,
      mem_free_bytes: 1,
      opencode_ok: true,
      sessions: 0,
      spool_depth: spool.depth(),
    }),
    runCommand: async () => okReply(null),
    onUnsendable: (row: SpooledEvent, limit: number) => {
      dropped.push({ seq: row.seq, limit });
      spool.drop(row.seq);
      spool.append([draft({ seq: row.seq, bytes: row.bytes }, 'agent.event_dropped')]);
    },
  });
  t.after(async () => {
    await conn.stop();
    spool.close();
  });
  await conn.start();
  await waitFor(() => peer.events.length === 3, { message: 'the two small events and the drop report' });
  assert.deepEqual(dropped, [{ seq: big!.seq, limit: LIMITS.eventBytes }]);
  assert.deepEqual(
    peer.events.map((e: EventRecord) => [e.seq, e.type]),
    [
      [small1!.seq, 'session.busy'],
      [small2!.seq, 'session.busy'],
      [small2!.seq + 1, 'agent.event_dropped'],
    ],
  );
  await waitFor(() => spool.depth() === 0, { message: 'everything acked, nothing left to resend' });
  assert.equal(peer.connections.length, 1, 'never closed and reconnected');
});

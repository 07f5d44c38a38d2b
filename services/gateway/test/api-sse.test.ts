import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { jetstreamClient, publishEvent } from '@hal/bus';
import { type EventRecord, StreamName } from '@hal/protocol';
import { parseSse, type SseMessage, waitFor } from '@hal/testkit';
import { type ApiFixture, bearer, startApiFixture, TOKENS } from './api-stand-ins.ts';

function event(i: number, overrides: Partial<EventRecord> = {}): EventRecord {
  return {
    version: 1,
    id: randomUUID(),
    seq: i,
    node: 'n1',
    project: 'alpha',
    session: `s${i % 2}`,
    type: 'message.part',
    time: new Date(Date.UTC(2026, 10, 25, 10, 0, 0, i)).toISOString(),
    data: { i },
    ...overrides,
  };
}

async function publishMany(fx: ApiFixture, from: number, count: number): Promise<void> {
  const js = jetstreamClient(fx.nc);
  const pending: Promise<unknown>[] = [];
  for (let i = from; i < from + count; i++) {
    pending.push(publishEvent(js, event(i)));
    if (pending.length === 200) await Promise.all(pending.splice(0));
  }
  await Promise.all(pending);
}

interface Stream {
  next(): Promise<SseMessage>;
  close(): void;
}

async function openStream(
  fx: ApiFixture,
  query: string,
  headers: Record<string, string> = {},
): Promise<Stream> {
  const { port } = fx.api.address();
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/events/stream${query}`, {
    headers: { ...bearer(TOKENS.viewer), accept: 'text/event-stream', ...headers },
    signal: ac.signal,
  });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
  const it = parseSse(res.body as ReadableStream<Uint8Array>);
  return {
    async next() {
      const r = await it.next();
      if (r.done) throw new Error('stream ended');
      return r.value;
    },
    close: () => ac.abort(),
  };
}

async function consumerCount(fx: ApiFixture): Promise<number> {
  const jsm = await jetstreamClient(fx.nc).jetstreamManager();
  return (await jsm.streams.info(StreamName.EVENTS)).state.consumer_count;
}

test('api sse - resume with Last-Event-ID after 1,000 events: the rest, then live, no gap, no duplicate', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  await fx.api.start();
  await publishMany(fx, 0, 1000);

  const first = await openStream(fx, '?after_seq=0');
  const firstIds: number[] = [];
  while (firstIds.length < 400) {
    const m = await first.next();
    assert.equal(m.event, 'message.part');
    firstIds.push(Number(m.id));
  }
  first.close();
  assert.deepEqual(
    firstIds,
    Array.from({ length: 400 }, (_, i) => i + 1),
  );
  // The consumer goes away with the client.
  await waitFor(async () => (await consumerCount(fx)) === 0, { timeoutMs: 5_000 });

  const second = await openStream(fx, '', { 'last-event-id': String(firstIds.at(-1)) });
  t.after(() => second.close());
  const secondIds: number[] = [];
  const records: EventRecord[] = [];
  while (secondIds.length < 600) {
    const m = await second.next();
    secondIds.push(Number(m.id));
    records.push(JSON.parse(m.data) as EventRecord);
  }
  await publishMany(fx, 1000, 5);
  while (secondIds.length < 605) secondIds.push(Number((await second.next()).id));
  assert.deepEqual(
    secondIds,
    Array.from({ length: 605 }, (_, i) => i + 401),
  );
  // The data is the stored record itself.
  assert.equal(records[0]?.seq, 400);
  assert.deepEqual(records[0]?.data, { i: 400 });
});

test('api sse - filters by type, node and session; heartbeats are comments', async (t) => {
  const fx = await startApiFixture({ sseHeartbeatMs: 50 });
  t.after(() => fx.stop());
  await fx.api.start();
  const js = jetstreamClient(fx.nc);
  await publishEvent(js, event(1, { session: 'keep', type: 'session.idle' }));
  await publishEvent(js, event(2, { session: 'other', type: 'session.idle' }));
  await publishEvent(js, event(3, { session: 'keep', type: 'message.part' }));
  await publishEvent(js, event(4, { session: 'keep', type: 'session.idle', node: 'n2' }));
  await publishEvent(js, event(5, { session: 'keep', type: 'session.idle' }));

  const s = await openStream(fx, '?after_seq=0&type=session.idle&node=n1&session=keep');
  t.after(() => s.close());
  const got = [await s.next(), await s.next()].map((m) => ({ id: m.id, event: m.event }));
  assert.deepEqual(got, [
    { id: '1', event: 'session.idle' },
    { id: '5', event: 'session.idle' },
  ]);

  const { port } = fx.api.address();
  const ac = new AbortController();
  t.after(() => ac.abort());
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/events/stream?type=cost.%3E`, {
    headers: bearer(TOKENS.viewer),
    signal: ac.signal,
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes(': ping\n\n')) text += new TextDecoder().decode((await reader.read()).value);
  // A stream from "now" names where now is: the stream's last sequence (5 events so far).
  assert.match(text, /^: connected\nid: 5\n\n/);
});

test('api sse - a stream from now that is cut before any event resumes from its id line: nothing in between is lost', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  await fx.api.start();
  await publishMany(fx, 0, 3);
  const { port } = fx.api.address();
  const ac = new AbortController();
  const res = await fetch(`http://127.0.0.1:${port}/api/v1/events/stream`, {
    headers: bearer(TOKENS.viewer),
    signal: ac.signal,
  });
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  let text = '';
  while (!text.includes('\n\n')) text += new TextDecoder().decode((await reader.read()).value);
  assert.equal(text, ': connected\nid: 3\n\n');
  ac.abort();
  // Two events while the client is away; it comes back with the id it was given.
  await publishMany(fx, 3, 2);
  const again = await openStream(fx, '', { 'last-event-id': '3' });
  t.after(() => again.close());
  assert.deepEqual([Number((await again.next()).id), Number((await again.next()).id)], [4, 5]);
});

test('api sse - bad resume point and missing token are refused before streaming', async (t) => {
  const fx = await startApiFixture();
  t.after(() => fx.stop());
  const noToken = await fx.api.app.inject({ method: 'GET', url: '/api/v1/events/stream' });
  assert.equal(noToken.statusCode, 401);
  const badId = await fx.api.app.inject({
    method: 'GET',
    url: '/api/v1/events/stream',
    headers: { ...bearer(TOKENS.viewer), 'last-event-id': 'abc' },
  });
  assert.equal(badId.statusCode, 400);
  assert.equal(badId.json().error.code, 'VALIDATION_FAILED');
  const badType = await fx.api.app.inject({
    method: 'GET',
    url: '/api/v1/events/stream?type=Not%20A%20Type',
    headers: bearer(TOKENS.viewer),
  });
  assert.equal(badType.statusCode, 400);
  assert.equal(badType.json().error.message, 'event type filter "Not A Type" is not a type or glob');
});

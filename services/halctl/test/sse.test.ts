import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSse, SseEventTooLargeError, type SseMessage } from '../src/sse.ts';

/** A body delivering exactly these chunks; `cancelled` is kept when the reader cancels it. */
function body(chunks: Array<string | Uint8Array>) {
  const enc = new TextEncoder();
  let cancel!: () => void;
  const cancelled = new Promise<void>((resolve) => {
    cancel = resolve;
  });
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      const chunk = chunks[i++];
      if (chunk === undefined) controller.close();
      else controller.enqueue(typeof chunk === 'string' ? enc.encode(chunk) : chunk);
    },
    cancel: () => cancel(),
  });
  return { stream, cancelled };
}

async function collect(chunks: Array<string | Uint8Array>, maxEventBytes?: number): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  const opts = maxEventBytes === undefined ? {} : { maxEventBytes };
  for await (const m of parseSse(body(chunks).stream, opts)) out.push(m);
  return out;
}

test('halctl sse - events split anywhere, CRLF, comments, multi-line data and UTF-8 across chunks', async () => {
  const euro = new TextEncoder().encode('€'); // three bytes, delivered one by one
  const messages = await collect([
    ': connected\n\nid: 1\r\nevent: a\r\nda',
    'ta: x\r\n\r\n',
    'id: 2\ndata: ',
    euro.subarray(0, 1),
    euro.subarray(1, 2),
    euro.subarray(2),
    '\ndata: second line\n\n: ping\n\nid: 3\ndata: never ended',
  ]);
  assert.deepEqual(messages, [
    { id: '1', event: 'a', data: 'x' },
    { id: '2', event: undefined, data: '€\nsecond line' },
  ]);
});

test('halctl sse - an event of exactly the limit passes, one byte more is refused', async () => {
  const event = 'id: 1\ndata: abc\n\n'; // 17 bytes with the blank line that ends it
  assert.deepEqual(await collect([event, event], 17), [
    { id: '1', event: undefined, data: 'abc' },
    { id: '1', event: undefined, data: 'abc' },
  ]);
  await assert.rejects(collect([event], 16), (err: unknown) => {
    assert.ok(err instanceof SseEventTooLargeError);
    assert.equal(err.message, 'an event is larger than 16 bytes');
    return true;
  });
});

test('halctl sse - a line that never ends is refused once it passes the limit, and the body is cancelled', async () => {
  const { stream, cancelled } = body(['data: ', 'x'.repeat(1024), 'x'.repeat(1024), 'x'.repeat(1024)]);
  const seen: SseMessage[] = [];
  await assert.rejects(
    (async () => {
      for await (const m of parseSse(stream, { maxEventBytes: 2048 })) seen.push(m);
    })(),
    { name: 'SseEventTooLargeError', message: 'an event is larger than 2 KiB' },
  );
  assert.deepEqual(seen, []);
  await cancelled;
});

test('halctl sse - a caller that stops early cancels the body', async () => {
  const { stream, cancelled } = body(['id: 1\ndata: a\n\nid: 2\ndata: b\n\n', 'id: 3\ndata: c\n\n']);
  for await (const m of parseSse(stream)) {
    assert.equal(m.data, 'a');
    break;
  }
  await cancelled;
});

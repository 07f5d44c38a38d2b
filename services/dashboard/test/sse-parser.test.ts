import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createSseParser, type SseMessage } from '../src/sse-parser.ts';

function parse(chunks: string[]): { messages: SseMessage[]; lastId: string } {
  const messages: SseMessage[] = [];
  const p = createSseParser((m) => messages.push(m));
  for (const c of chunks) p.push(c);
  return { messages, lastId: p.lastEventId() };
}

test('sse parser - messages with id, event and data; comments ignored', () => {
  const { messages } = parse([': connected\n\nid: 7\nevent: session.idle\ndata: {"a":1}\n\n: ping\n\n']);
  assert.deepEqual(messages, [{ id: '7', event: 'session.idle', data: '{"a":1}' }]);
});

test('sse parser - a message split anywhere, even between CR and LF, is read the same', () => {
  const text = 'id: 1\r\nevent: a\r\ndata: x\r\n\r\nid: 2\rdata: y\r\rid: 3\ndata: line1\ndata: line2\n\n';
  const whole = parse([text]).messages;
  assert.deepEqual(whole, [
    { id: '1', event: 'a', data: 'x' },
    { id: '2', event: 'message', data: 'y' },
    { id: '3', event: 'message', data: 'line1\nline2' },
  ]);
  for (let cut = 1; cut < text.length; cut++) {
    assert.deepEqual(parse([text.slice(0, cut), text.slice(cut)]).messages, whole, `cut at ${cut}`);
  }
  assert.deepEqual(parse(text.split('')).messages, whole);
});

test('sse parser - an id line without data moves the last id and dispatches nothing', () => {
  const { messages, lastId } = parse([': connected\nid: 41\n\n']);
  assert.deepEqual(messages, []);
  assert.equal(lastId, '41');
});

test('sse parser - an unfinished message is not dispatched; a field without colon and odd fields are handled', () => {
  const { messages } = parse(['data\n\nretry: 10\nfoo: bar\ndata:no-space\n\ndata: half']);
  assert.deepEqual(messages, [
    { id: '', event: 'message', data: '' },
    { id: '', event: 'message', data: 'no-space' },
  ]);
});

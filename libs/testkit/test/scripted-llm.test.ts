import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseSse, startScriptedLlm } from '@hal/testkit';

async function chat(url: string, body: unknown): Promise<Response> {
  return fetch(`${url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function sseJson(res: Response): Promise<Array<Record<string, unknown> | '[DONE]'>> {
  const out: Array<Record<string, unknown> | '[DONE]'> = [];
  for await (const m of parseSse(res.body as ReadableStream<Uint8Array>)) {
    out.push(m.data === '[DONE]' ? '[DONE]' : (JSON.parse(m.data) as Record<string, unknown>));
  }
  return out;
}

test('scripted-llm - streams scripted text as chat.completion.chunks, then usage, then [DONE]', async (t) => {
  const llm = await startScriptedLlm();
  t.after(() => llm.stop());
  llm.script({
    text: 'Hello from the script.',
    usage: { prompt_tokens: 1234, completion_tokens: 56, prompt_tokens_details: { cached_tokens: 200 } },
  });
  const res = await chat(llm.url, {
    model: 'fake-model',
    stream: true,
    messages: [{ role: 'user', content: 'hi' }],
  });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get('content-type'), 'text/event-stream');
  const events = await sseJson(res);
  assert.equal(events.at(-1), '[DONE]');
  const chunks = events.slice(0, -1) as Array<{
    object: string;
    choices: Array<Record<string, unknown>>;
    usage?: unknown;
  }>;
  assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk'));
  const text = chunks
    .flatMap((c) => c.choices)
    .map((ch) => (ch.delta as { content?: string }).content ?? '')
    .join('');
  assert.equal(text, 'Hello from the script.');
  assert.deepEqual(chunks.at(-2)?.choices, [{ index: 0, delta: {}, finish_reason: 'stop' }]);
  assert.deepEqual(chunks.at(-1)?.usage, {
    prompt_tokens: 1234,
    completion_tokens: 56,
    total_tokens: 1290,
    prompt_tokens_details: { cached_tokens: 200 },
  });
  assert.equal(llm.chatRequests('hi').length, 1);
  assert.equal(llm.pending(), 0);
});

test('scripted-llm - tool calls, errors with headers, default answer and non-streaming replies', async (t) => {
  const llm = await startScriptedLlm();
  t.after(() => llm.stop());
  llm.script(
    { toolCall: { name: 'bash', arguments: { command: 'ls' } } },
    {
      error: {
        status: 429,
        message: 'Rate limit exceeded',
        type: 'rate_limit_error',
        headers: { 'retry-after': '3' },
      },
    },
  );
  const events = await sseJson(
    await chat(llm.url, { stream: true, messages: [{ role: 'user', content: 'run ls' }] }),
  );
  const deltas = (
    events.slice(0, -1) as Array<{
      choices: Array<{ delta: Record<string, unknown>; finish_reason: unknown }>;
    }>
  ).flatMap((c) => c.choices);
  const calls = deltas.flatMap(
    (d) => (d.delta.tool_calls as Array<Record<string, unknown>> | undefined) ?? [],
  );
  assert.equal((calls[0]?.function as { name: string } | undefined)?.name, 'bash');
  assert.equal(
    calls.map((c) => (c.function as { arguments: string }).arguments).join(''),
    '{"command":"ls"}',
  );
  assert.ok(deltas.some((d) => d.finish_reason === 'tool_calls'));

  const limited = await chat(llm.url, { stream: true, messages: [{ role: 'user', content: 'again' }] });
  assert.equal(limited.status, 429);
  assert.equal(limited.headers.get('retry-after'), '3');
  assert.deepEqual(await limited.json(), {
    error: { message: 'Rate limit exceeded', type: 'rate_limit_error', code: 'rate_limit_error' },
  });

  const plain = await chat(llm.url, {
    stream: false,
    messages: [{ role: 'user', content: [{ type: 'text', text: 'x' }] }],
  });
  const body = (await plain.json()) as { choices: Array<{ message: { content: string } }>; usage: unknown };
  assert.equal(body.choices[0]?.message.content, 'OK.');
  assert.deepEqual(body.usage, { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 });
  assert.equal(llm.requests.at(-1)?.lastUserText, 'x');

  const models = (await (await fetch(`${llm.url}/models`)).json()) as { data: Array<{ id: string }> };
  assert.deepEqual(
    models.data.map((m) => m.id),
    ['fake-model'],
  );
  const bad = await fetch(`${llm.url}/chat/completions`, { method: 'POST', body: '{not json' });
  assert.equal(bad.status, 400);
});

test('scripted-llm - title requests are answered apart and do not consume the script', async (t) => {
  const llm = await startScriptedLlm({ titleText: 'My title' });
  t.after(() => llm.stop());
  llm.script({ text: 'for the chat' });
  const res = await chat(llm.url, {
    stream: false,
    messages: [
      { role: 'system', content: 'You are a title generator. You output ONLY a thread title.' },
      { role: 'user', content: 'hello' },
    ],
  });
  const body = (await res.json()) as { choices: Array<{ message: { content: string } }> };
  assert.equal(body.choices[0]?.message.content, 'My title');
  assert.equal(llm.pending(), 1);
  assert.equal(llm.requests[0]?.kind, 'title');
  assert.equal(llm.chatRequests().length, 0);
});

test('scripted-llm - respond answers from the request when the script is empty; the script goes first', async (t) => {
  const llm = await startScriptedLlm({
    respond: (req) =>
      req.lastUserText.includes('files') ? { text: `you said: ${req.lastUserText}` } : undefined,
  });
  t.after(() => llm.stop());
  const ask = async (content: string) => {
    const res = await chat(llm.url, { stream: false, messages: [{ role: 'user', content }] });
    return ((await res.json()) as { choices: Array<{ message: { content: string } }> }).choices[0]?.message
      .content;
  };
  llm.script({ text: 'scripted first' });
  assert.equal(await ask('list the files'), 'scripted first');
  assert.equal(await ask('list the files'), 'you said: list the files');
  assert.equal(await ask('hello'), 'OK.', 'undefined from respond falls back to the default text');
});

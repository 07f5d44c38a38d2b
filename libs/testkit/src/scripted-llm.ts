import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface LlmUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens?: number;
  prompt_tokens_details?: { cached_tokens: number };
}

export interface LlmError {
  status: number;
  message: string;
  type?: string;
  headers?: Record<string, string>;
}

/**
 * One scripted answer. A step with `text`, `toolCall` or `error` says what to answer; `usage` and
 * `delayMs` modify it. A step with none of the three (e.g. `{ usage }` or `{ delayMs }` alone)
 * answers the default text.
 */
export interface LlmStep {
  text?: string;
  toolCall?: { name: string; arguments: Record<string, unknown> | string; id?: string };
  error?: LlmError;
  usage?: LlmUsage;
  delayMs?: number;
}

export interface RecordedLlmRequest {
  /** `title` for opencode's title-generation calls (answered without consuming the script). */
  kind: 'chat' | 'title';
  path: string;
  /** The parsed JSON body as sent. */
  body: ChatBody;
  /** Text of the last user message (string content or joined text parts), '' if none. */
  lastUserText: string;
  /** All message texts joined, for `includes` searches. */
  allText: string;
  stream: boolean;
}

export interface ChatMessage {
  role: string;
  content?: unknown;
  [key: string]: unknown;
}

export interface ChatBody {
  model?: string;
  stream?: boolean;
  messages?: ChatMessage[];
  [key: string]: unknown;
}

export interface StartScriptedLlmOptions {
  port?: number;
  defaultText?: string;
  defaultUsage?: LlmUsage;
  /** Text answered to title-generation requests. Default "Test session". */
  titleText?: string;
  /** Delay between streamed chunks. Default 0. */
  chunkDelayMs?: number;
  /**
   * Answers a chat request when the script is empty (the `npm start` demo picks its answer from the
   * prompt); undefined falls back to the default text.
   */
  respond?: (request: RecordedLlmRequest) => LlmStep | undefined;
}

export interface ScriptedLlm {
  /** Base URL ending in /v1, for an OpenAI-compatible client. */
  url: string;
  port: number;
  /** Every request received, in order (chat and title). */
  requests: RecordedLlmRequest[];
  /** Chat requests (titles excluded), optionally only those whose last user message contains `lastUserText`. */
  chatRequests(lastUserText?: string): RecordedLlmRequest[];
  /** Appends steps to the queue. */
  script(...steps: LlmStep[]): void;
  /** Steps not consumed yet. */
  pending(): number;
  stop(): Promise<void>;
}

const MODEL = 'fake-model';

function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p: unknown) =>
        p && typeof p === 'object' && 'text' in p && typeof p.text === 'string' ? p.text : '',
      )
      .join('');
  }
  return '';
}

// opencode asks the model for a session title with a dedicated system prompt; those calls must not
// eat the scripted replies meant for the conversation.
function isTitleRequest(body: ChatBody): boolean {
  const system = (body.messages ?? [])
    .filter((m) => m.role === 'system')
    .map((m) => contentText(m.content))
    .join('\n');
  return /title generator/i.test(system);
}

function recordOf(path: string, body: ChatBody): RecordedLlmRequest {
  const messages = body.messages ?? [];
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  return {
    kind: isTitleRequest(body) ? 'title' : 'chat',
    path,
    body,
    lastUserText: lastUser ? contentText(lastUser.content) : '',
    allText: messages.map((m) => contentText(m.content)).join('\n'),
    stream: body.stream === true,
  };
}

function withTotal(u: LlmUsage): LlmUsage {
  return { ...u, total_tokens: u.total_tokens ?? u.prompt_tokens + u.completion_tokens };
}

function chunksOf(text: string): string[] {
  const parts = text.match(/\S+\s*|\s+/g);
  return parts ?? [''];
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(value));
}

/**
 * Waits `ms`, or less when `res` closes first (the client gave up: opencode aborted the turn, or
 * stop() closed every connection); true when the whole wait passed. A timer left running would
 * keep the test's process alive after its last test: a killed 45 s turn kept discord-kill-e2e's
 * process 45 s past its end.
 */
function delay(ms: number, res: ServerResponse): Promise<boolean> {
  if (res.closed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const closed = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', closed);
      resolve(true);
    }, ms);
    res.once('close', closed);
  });
}

/** An OpenAI-compatible chat-completions server on loopback that answers from a script. */
export async function startScriptedLlm(opts: StartScriptedLlmOptions = {}): Promise<ScriptedLlm> {
  const queue: LlmStep[] = [];
  const requests: RecordedLlmRequest[] = [];
  const defaultText = opts.defaultText ?? 'OK.';
  const defaultUsage = opts.defaultUsage ?? { prompt_tokens: 100, completion_tokens: 20 };
  const chunkDelayMs = opts.chunkDelayMs ?? 0;
  let seq = 0;

  async function answer(res: ServerResponse, rec: RecordedLlmRequest): Promise<void> {
    const step: LlmStep =
      rec.kind === 'title'
        ? { text: opts.titleText ?? 'Test session' }
        : (queue.shift() ?? opts.respond?.(rec) ?? {});
    if (step.delayMs && !(await delay(step.delayMs, res))) return;
    if (step.error) {
      const e = step.error;
      sendJson(
        res,
        e.status,
        { error: { message: e.message, type: e.type ?? 'api_error', code: e.type ?? null } },
        e.headers,
      );
      return;
    }
    const usage = withTotal(step.usage ?? defaultUsage);
    const id = `chatcmpl-${++seq}`;
    const created = Math.floor(Date.now() / 1000);
    const call = step.toolCall
      ? {
          id: step.toolCall.id ?? `call_${seq}`,
          name: step.toolCall.name,
          args:
            typeof step.toolCall.arguments === 'string'
              ? step.toolCall.arguments
              : JSON.stringify(step.toolCall.arguments),
        }
      : undefined;
    const text = call ? (step.text ?? '') : (step.text ?? defaultText);
    const finish = call ? 'tool_calls' : 'stop';

    if (!rec.stream) {
      const message: Record<string, unknown> = { role: 'assistant', content: text };
      if (call) {
        message.tool_calls = [
          { id: call.id, type: 'function', function: { name: call.name, arguments: call.args } },
        ];
      }
      sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model: MODEL,
        choices: [{ index: 0, message, finish_reason: finish }],
        usage,
      });
      return;
    }

    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    const send = async (choices: unknown[], extra: Record<string, unknown> = {}): Promise<void> => {
      res.write(
        `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model: MODEL, choices, ...extra })}\n\n`,
      );
      if (chunkDelayMs) await delay(chunkDelayMs, res);
    };
    await send([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }]);
    if (text) {
      for (const piece of chunksOf(text))
        await send([{ index: 0, delta: { content: piece }, finish_reason: null }]);
    }
    if (call) {
      await send([
        {
          index: 0,
          delta: {
            tool_calls: [
              { index: 0, id: call.id, type: 'function', function: { name: call.name, arguments: '' } },
            ],
          },
          finish_reason: null,
        },
      ]);
      await send([
        {
          index: 0,
          delta: { tool_calls: [{ index: 0, function: { arguments: call.args } }] },
          finish_reason: null,
        },
      ]);
    }
    await send([{ index: 0, delta: {}, finish_reason: finish }]);
    await send([], { usage });
    res.end('data: [DONE]\n\n');
  }

  const server = createServer((req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      if (req.method === 'GET' && path === '/v1/models') {
        sendJson(res, 200, {
          object: 'list',
          data: [{ id: MODEL, object: 'model', created: 0, owned_by: 'hal' }],
        });
        return;
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') {
        let body: ChatBody;
        try {
          body = JSON.parse(await readBody(req)) as ChatBody;
        } catch {
          sendJson(res, 400, { error: { message: 'invalid JSON body', type: 'invalid_request_error' } });
          return;
        }
        const rec = recordOf(path, body);
        requests.push(rec);
        await answer(res, rec);
        return;
      }
      sendJson(res, 404, { error: { message: `no route ${req.method} ${path}`, type: 'not_found' } });
    })().catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: { message: String(err), type: 'server_error' } });
      else res.destroy();
    });
  });
  server.listen(opts.port ?? 0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    port,
    requests,
    chatRequests(lastUserText) {
      return requests.filter(
        (r) => r.kind === 'chat' && (lastUserText === undefined || r.lastUserText.includes(lastUserText)),
      );
    },
    script(...steps) {
      queue.push(...steps);
    },
    pending: () => queue.length,
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}

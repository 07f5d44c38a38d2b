export interface SseMessage {
  event?: string;
  id?: string;
  data: string;
}

/** Parses an SSE byte stream into messages (the `data:` lines of one message are joined by \n). */
export async function* parseSse(body: ReadableStream<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let msg: { event?: string; id?: string; data?: string[] } = {};
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let nl = buffer.indexOf('\n');
      while (nl !== -1) {
        const line = buffer.slice(0, nl).replace(/\r$/, '');
        buffer = buffer.slice(nl + 1);
        nl = buffer.indexOf('\n');
        if (line === '') {
          if (msg.data) yield { event: msg.event, id: msg.id, data: msg.data.join('\n') };
          msg = {};
          continue;
        }
        if (line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon === -1 ? line : line.slice(0, colon);
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'data') msg.data = [...(msg.data ?? []), value];
        else if (field === 'event') msg.event = value;
        else if (field === 'id') msg.id = value;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export interface SseCollector<T> {
  /** Every parsed JSON `data` received so far. */
  readonly events: T[];
  /** Resolves with the first event (already received or future) matching `pred`. */
  next(pred: (e: T) => boolean, timeoutMs?: number): Promise<T>;
  /** True once the stream has ended (server closed it or close() was called). */
  readonly ended: boolean;
  close(): void;
}

/**
 * Opens an SSE stream with fetch and collects every JSON event, so a test can first act and then
 * await the event it expects — no sleeps.
 */
export async function collectSse<T = unknown>(url: string, init: RequestInit = {}): Promise<SseCollector<T>> {
  const ac = new AbortController();
  const res = await fetch(url, { ...init, signal: ac.signal, headers: { accept: 'text/event-stream' } });
  if (!res.ok || !res.body) throw new Error(`SSE ${url} answered ${res.status}`);
  const events: T[] = [];
  const waiters: Array<{ pred: (e: T) => boolean; resolve: (e: T) => void }> = [];
  let ended = false;
  void (async () => {
    try {
      for await (const m of parseSse(res.body as ReadableStream<Uint8Array>)) {
        let value: T;
        try {
          value = JSON.parse(m.data) as T;
        } catch {
          value = m.data as T;
        }
        events.push(value);
        for (const w of [...waiters]) {
          if (w.pred(value)) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(value);
          }
        }
      }
    } catch {
      // aborted or dropped: `ended` tells the test
    } finally {
      ended = true;
    }
  })();
  return {
    events,
    get ended() {
      return ended;
    },
    next(pred, timeoutMs = 10_000) {
      const found = events.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const w = {
          pred,
          resolve: (e: T) => {
            clearTimeout(timer);
            resolve(e);
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(w), 1);
          reject(
            new Error(`no matching SSE event from ${url} within ${timeoutMs} ms (${events.length} received)`),
          );
        }, timeoutMs);
        waiters.push(w);
      });
    },
    close() {
      ac.abort();
    },
  };
}

import { createSseParser } from './sse-parser.ts';

/** What the stream is doing, shown in the header ("reconnecting…" is visible to people). */
export const StreamStatus = {
  CONNECTING: 'connecting',
  LIVE: 'live',
  RECONNECTING: 'reconnecting',
  /** The token was refused: reconnecting cannot help. */
  REFUSED: 'refused',
  CLOSED: 'closed',
} as const;
export type StreamStatus = (typeof StreamStatus)[keyof typeof StreamStatus];

/** An event of HAL_EVENTS as the API streams it; `seq` is the stream sequence (the SSE id). */
export interface LiveEvent {
  seq: number;
  type: string;
  id: string;
  node: string;
  project: string;
  session: string | null;
  time: string;
  data: Record<string, unknown>;
}

export interface EventStreamOptions {
  url: string;
  token: string;
  onEvent(event: LiveEvent): void;
  onStatus(status: StreamStatus, detail?: string): void;
  /** No byte for this long (the server pings every 15 s) means a dead connection. Default 40 s. */
  idleTimeoutMs?: number;
  /** Reconnect delays (ms), with jitter; the last one repeats. */
  backoffMs?: readonly number[];
}

export interface EventStream {
  close(): void;
  /** The last stream sequence seen: what a reconnect sends as Last-Event-ID. */
  lastSeq(): number | undefined;
}

const DEFAULT_BACKOFF = [250, 500, 1000, 2000, 5000] as const;

/**
 * The API's SSE stream read with fetch, so the token travels in the Authorization header (an
 * EventSource cannot send one, and a token never goes into a URL). After a disconnect it
 * reconnects with `Last-Event-ID` = the last sequence seen; the server resumes from exactly the
 * next one, and anything at or below the last sequence is dropped here too, so every event is
 * delivered once.
 */
export function openEventStream(opts: EventStreamOptions): EventStream {
  let last: number | undefined;
  let closed = false;
  let controller: AbortController | undefined;
  let attempt = 0;
  const backoff = opts.backoffMs ?? DEFAULT_BACKOFF;
  const idleMs = opts.idleTimeoutMs ?? 40_000;

  const deliver = (id: string, data: string): void => {
    const seq = Number(id);
    if (!Number.isSafeInteger(seq) || seq <= 0) return;
    if (last !== undefined && seq <= last) return;
    last = seq;
    let record: Omit<LiveEvent, 'seq'>;
    try {
      record = JSON.parse(data) as Omit<LiveEvent, 'seq'>;
    } catch {
      return;
    }
    opts.onEvent({ ...record, seq });
  };

  async function once(): Promise<void> {
    controller = new AbortController();
    const abort = controller;
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = (): void => {
      clearTimeout(idle);
      idle = setTimeout(() => abort.abort(), idleMs);
    };
    try {
      arm();
      const headers: Record<string, string> = {
        authorization: `Bearer ${opts.token}`,
        accept: 'text/event-stream',
      };
      if (last !== undefined) headers['last-event-id'] = String(last);
      const res = await fetch(opts.url, { headers, signal: abort.signal, cache: 'no-store' });
      if (res.status === 401 || res.status === 403) {
        closed = true;
        opts.onStatus(StreamStatus.REFUSED, `the API refused the token (${res.status})`);
        return;
      }
      if (!res.ok || res.body === null) throw new Error(`event stream answered ${res.status}`);
      attempt = 0;
      opts.onStatus(StreamStatus.LIVE);
      const parser = createSseParser((m) => deliver(m.id, m.data));
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        arm();
        parser.push(value);
        // An id-only message (sent at connect) moves the resume point without an event.
        const id = Number(parser.lastEventId());
        if (Number.isSafeInteger(id) && id > 0 && (last === undefined || id > last)) last = id;
      }
    } finally {
      clearTimeout(idle);
    }
  }

  (async () => {
    opts.onStatus(StreamStatus.CONNECTING);
    while (!closed) {
      try {
        await once();
      } catch {
        // A cut connection, a refused one or a dead one: all end in a reconnect below.
      }
      if (closed) break;
      opts.onStatus(StreamStatus.RECONNECTING);
      const base = backoff[Math.min(attempt, backoff.length - 1)] ?? 1000;
      attempt++;
      await new Promise((r) => setTimeout(r, base / 2 + Math.random() * base));
    }
  })();

  return {
    close() {
      closed = true;
      controller?.abort();
      opts.onStatus(StreamStatus.CLOSED);
    },
    lastSeq: () => last,
  };
}

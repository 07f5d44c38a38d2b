export interface SseMessage {
  id?: string | undefined;
  event?: string | undefined;
  data: string;
}

/** One event of the API's stream is one stored event; anything near this size is not one. */
export const MAX_SSE_EVENT_BYTES = 1024 * 1024;

const LF = 0x0a;

/** A single event (its lines up to the blank line that ends it) grew past the limit. */
export class SseEventTooLargeError extends Error {
  readonly limitBytes: number;
  constructor(limitBytes: number) {
    super(`an event is larger than ${formatBytes(limitBytes)}`);
    this.name = 'SseEventTooLargeError';
    this.limitBytes = limitBytes;
  }
}

export function formatBytes(bytes: number): string {
  return bytes % (1024 * 1024) === 0
    ? `${bytes / (1024 * 1024)} MiB`
    : bytes % 1024 === 0
      ? `${bytes / 1024} KiB`
      : `${bytes} bytes`;
}

function concat(parts: readonly Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Parses a Server-Sent Events body into messages; comments (heartbeats) are skipped.
 *
 * Lines are split on bytes, not decoded text, so the size of the event being read is known
 * exactly before anything is decoded: a server that never sends the blank line ending an
 * event cannot make halctl buffer without bound. (0x0A never occurs inside a UTF-8 sequence,
 * so every line decodes on its own.) The body is cancelled on the way out, whether the
 * caller finished, stopped early or failed, so the connection is closed rather than left open.
 */
export async function* parseSse(
  body: ReadableStream<Uint8Array>,
  opts: { maxEventBytes?: number } = {},
): AsyncGenerator<SseMessage> {
  const max = opts.maxEventBytes ?? MAX_SSE_EVENT_BYTES;
  const decoder = new TextDecoder();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  /** Bytes of the complete lines of the event being read. */
  let eventBytes = 0;
  let current: { id?: string; event?: string; data: string[] } = { data: [] };
  const reader = body.getReader();
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      let start = 0;
      for (let nl = value.indexOf(LF); nl !== -1; nl = value.indexOf(LF, start)) {
        const part = value.subarray(start, nl);
        const lineBytes = concat([...pending, part], pendingBytes + part.length);
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
        eventBytes += lineBytes.length + 1;
        if (eventBytes > max) throw new SseEventTooLargeError(max);
        const line = decoder.decode(lineBytes).replace(/\r$/, '');
        if (line === '') {
          if (current.data.length > 0)
            yield { id: current.id, event: current.event, data: current.data.join('\n') };
          current = { data: [] };
          eventBytes = 0;
        } else if (!line.startsWith(':')) {
          const colon = line.indexOf(':');
          const field = colon === -1 ? line : line.slice(0, colon);
          const fieldValue = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'data') current.data.push(fieldValue);
          else if (field === 'id') current.id = fieldValue;
          else if (field === 'event') current.event = fieldValue;
        }
      }
      if (start < value.length) {
        pending.push(value.subarray(start));
        pendingBytes += value.length - start;
        if (eventBytes + pendingBytes > max) throw new SseEventTooLargeError(max);
      }
    }
  } finally {
    // The body may already be errored (an abort): there is nothing left to close then.
    await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

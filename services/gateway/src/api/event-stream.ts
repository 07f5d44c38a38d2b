import type { JetStreamClient } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { ErrorCode, HalError, parseEventSubject, StreamName, subjects } from '@hal/protocol';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const SSE_HEARTBEAT_MS = 15_000;
/** `security.max_sse_streams_per_token` when the config does not say. */
export const DEFAULT_MAX_SSE_STREAMS_PER_TOKEN = 16;

/**
 * Takes one of a token's SSE stream slots, or refuses with RATE_LIMITED (429): every stream
 * holds an ordered consumer on HAL_EVENTS, so one leaked or hostile token must not open
 * thousands. The returned function gives the slot back (call it once, when the stream ends).
 */
export function acquireStreamSlot(counts: Map<string, number>, max: number, token: string): () => void {
  const open = counts.get(token) ?? 0;
  if (open >= max) {
    throw new HalError(
      ErrorCode.RATE_LIMITED,
      `token "${token}" already has ${open} open event streams (security.max_sse_streams_per_token is ${max}); close one and retry`,
      { details: { open, max } },
    );
  }
  counts.set(token, open + 1);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const left = (counts.get(token) ?? 1) - 1;
    if (left <= 0) counts.delete(token);
    else counts.set(token, left);
  };
}

export interface EventStreamOptions {
  node?: string | undefined;
  project?: string | undefined;
  type?: string | undefined;
  session?: string | undefined;
  /** Deliver from this stream sequence + 1 (a `Last-Event-ID` or `after_seq`). */
  afterSeq?: number | undefined;
  /** Deliver from this time on, when no sequence is given. */
  since?: string | undefined;
  heartbeatMs?: number;
  /** Open streams register here so a shutdown can end them (fastify cannot close hijacked replies). */
  open?: Set<() => void>;
}

/**
 * Server-Sent Events straight from HAL_EVENTS. An ordered consumer delivers in stream order
 * from exactly `afterSeq + 1`, and replay turns into live delivery inside the same consumer,
 * so a resumed client sees no gap and no duplicate. `id` is the stream sequence, which is
 * what the client sends back as `Last-Event-ID`.
 */
export async function streamEvents(
  js: JetStreamClient,
  req: FastifyRequest,
  reply: FastifyReply,
  opts: EventStreamOptions,
  log: Logger,
): Promise<void> {
  const filter = subjects.eventFilter({ node: opts.node, project: opts.project, type: opts.type });
  // A stream that starts "now" starts after the stream's last sequence, which the client is told
  // (an `id:` line without data): a reconnect before the first event then resumes from there
  // instead of from whatever "now" is at the reconnect, so nothing in between is lost.
  const startAfter =
    opts.afterSeq ??
    (opts.since === undefined
      ? (await (await js.streams.get(StreamName.EVENTS)).info()).state.last_seq
      : undefined);
  // Created before the response starts: a failure here still gets a normal error envelope.
  const consumer = await js.consumers.get(StreamName.EVENTS, {
    // One subject as a string: the Debian nats-server predates multi-filter consumers (2.10).
    filter_subjects: filter,
    ...(startAfter !== undefined
      ? { deliver_policy: 'by_start_sequence' as const, opt_start_seq: startAfter + 1 }
      : { deliver_policy: 'by_start_time' as const, opt_start_time: opts.since }),
  });
  const messages = await consumer.consume({ max_messages: 256 });

  reply.hijack();
  const raw = reply.raw;
  raw.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': req.id,
  });
  raw.write(
    opts.afterSeq === undefined && startAfter !== undefined
      ? `: connected\nid: ${startAfter}\n\n`
      : ': connected\n\n',
  );

  let closed = false;
  const heartbeat = setInterval(() => raw.write(': ping\n\n'), opts.heartbeatMs ?? SSE_HEARTBEAT_MS);
  // Stop the consumer when the client goes: an abandoned ordered consumer would keep pulling.
  const onClose = (): void => {
    closed = true;
    clearInterval(heartbeat);
    messages.stop();
  };
  raw.once('close', onClose);
  const end = (): void => {
    onClose();
    raw.end();
  };
  opts.open?.add(end);

  try {
    for await (const m of messages) {
      if (closed) break;
      const text = m.string();
      if (opts.session !== undefined) {
        let session: unknown;
        try {
          session = (JSON.parse(text) as { session?: unknown }).session;
        } catch {
          session = undefined;
        }
        if (session !== opts.session) continue;
      }
      let type: string;
      try {
        type = parseEventSubject(m.subject).type;
      } catch {
        // Not a subject HAL builds (another client published it): skip it, keep the stream.
        continue;
      }
      // JSON.stringify never emits a raw newline, so one `data:` line holds the whole record.
      const ok = raw.write(`id: ${m.seq}\nevent: ${type}\ndata: ${text}\n\n`);
      if (!ok && !closed) await drainedOrClosed(raw);
    }
  } catch (err) {
    if (!closed) log.warn({ err, request_id: req.id }, 'event stream failed');
  } finally {
    onClose();
    opts.open?.delete(end);
    raw.off('close', onClose);
    if (!raw.writableEnded) raw.end();
    // Delete at once instead of leaving it to the server's inactivity timer: a busy API would
    // otherwise pile up idle consumers on HAL_EVENTS.
    await consumer.delete().catch((err: unknown) => log.debug({ err }, 'ordered consumer already gone'));
  }
}

/** Resolves when the socket can take more, or is gone; leaves no listener behind. */
function drainedOrClosed(raw: NodeJS.WritableStream): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      raw.off('drain', done);
      raw.off('close', done);
      resolve();
    };
    raw.on('drain', done);
    raw.on('close', done);
  });
}

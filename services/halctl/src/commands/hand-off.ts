import {
  EventType,
  handOffAcceptedSchema,
  handOffCompletedDataSchema,
  handOffFailedDataSchema,
} from '@hal/protocol';
import { z } from 'zod';
import { envelope } from '../api-answer.ts';
import type { ApiClient } from '../client.ts';
import { CliError } from '../exit-codes.ts';
import { type Output, writeJson } from '../output.ts';
import { EVENTS_STREAM_PATH, streamedEventSchema } from './events.ts';

const enc = encodeURIComponent;
const anyAnswer = envelope(z.unknown().optional(), z.object({ node: z.string() }));

export interface HandOffOptions {
  /** `restart` runs the same hand-off through `POST …/restart` (audited as session.restart). */
  verb?: 'handoff' | 'restart';
  session: string;
  prompt?: string | undefined;
  waitIdleSeconds?: number | undefined;
  /** Wait for handoff.completed / handoff.failed and print it. */
  follow?: boolean | undefined;
  signal?: AbortSignal | undefined;
}

/**
 * `halctl sessions handoff <id>` and `halctl sessions restart <id>`: starts a graceful hand-off
 * and prints its id at once; with --follow, waits for its outcome in the event stream (exit 0
 * when completed, 1 when failed).
 */
export async function sessionHandOff(
  client: ApiClient,
  out: Output,
  opts: HandOffOptions,
  idempotencyKey: string,
): Promise<void> {
  // Events carry the agent's clock: a wide window, and the hand-off id picks ours out of it.
  const since = new Date(Date.now() - 300_000).toISOString();
  const body = {
    ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
    ...(opts.waitIdleSeconds === undefined ? {} : { wait_idle_seconds: opts.waitIdleSeconds }),
  };
  const verb = opts.verb ?? 'handoff';
  const answer = await client.post(`/api/v1/sessions/${enc(opts.session)}/${verb}`, anyAnswer, body, {
    idempotencyKey,
  });
  const meta = answer.meta;
  const accepted = handOffAcceptedSchema.safeParse(answer.data);
  if (!accepted.success) {
    // An agent of the previous protocol restarts at once and answers with the new session.
    if (verb === 'handoff') handOffAcceptedSchema.parse(answer.data);
    if (out.json) return writeJson(out, answer.data);
    out.write(`ok: restart session ${opts.session} on node ${meta.node} ${JSON.stringify(answer.data)}\n`);
    return;
  }
  const data = accepted.data;
  if (out.json) writeJson(out, { ...data, node: meta.node });
  else {
    out.write(
      `ok: ${verb === 'restart' ? 'restart as ' : ''}hand-off ${data.handoff_id} of session ${data.session} started on node ${meta.node} (waits up to ${Math.round(data.wait_idle_ms / 1000)} s for idle)\n`,
    );
  }
  if (!opts.follow) return;
  const stream = client.stream(
    EVENTS_STREAM_PATH,
    streamedEventSchema,
    { session: data.session, since },
    opts.signal === undefined ? {} : { signal: opts.signal },
  );
  for await (const m of stream) {
    const e = m.data;
    if (e.type === EventType.HANDOFF_COMPLETED) {
      const done = handOffCompletedDataSchema.safeParse(e.data);
      if (!done.success || done.data.handoff_id !== data.handoff_id) continue;
      if (out.json) writeJson(out, { event: e.type, ...done.data });
      else {
        const how = done.data.went_idle ? 'after it went idle' : 'when the wait for idle ran out';
        out.write(
          `completed: session ${data.session} continues as ${done.data.session} (stopped ${how}, ${(done.data.waited_ms / 1000).toFixed(1)} s)\n`,
        );
      }
      return;
    }
    if (e.type === EventType.HANDOFF_FAILED) {
      const failed = handOffFailedDataSchema.safeParse(e.data);
      if (!failed.success || failed.data.handoff_id !== data.handoff_id) continue;
      if (out.json) writeJson(out, { event: e.type, ...failed.data });
      const state = failed.data.aborted ? 'the old session is already stopped' : 'the old session still runs';
      throw new CliError(
        failed.data.code,
        `hand-off ${data.handoff_id} failed at ${failed.data.stage}: ${failed.data.message} (${state})`,
      );
    }
  }
}

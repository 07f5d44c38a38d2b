import { type NatsConnection, request } from '@hal/bus';
import {
  type Command,
  SCHEMA_VERSION,
  subjects,
  TrackerQuery,
  toHalError,
  trackerQuerySchemas,
} from '@hal/protocol';
import { z } from 'zod';

export type CommandOutcome = { ok: true; data: unknown } | { ok: false; code: string; message: string };

/**
 * Sends one command to the gateway holding the node, as the policy; never throws. With
 * `idempotencyKey` the agent runs it at most once and answers a repeat with the first outcome.
 */
export async function sendCommand(
  nc: NatsConnection,
  node: string,
  command: Command,
  policy: string,
  timeoutMs: number,
  idempotencyKey?: string,
): Promise<CommandOutcome> {
  try {
    const data = await request(
      nc,
      subjects.command(node),
      {
        version: SCHEMA_VERSION,
        command,
        actor: { kind: 'policy', id: policy },
        timeout_ms: timeoutMs,
        ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
      },
      z.unknown(),
      // The gateway answers within timeout_ms (with TIMEOUT if the agent does not); a little
      // more here so its answer, not ours, decides.
      { timeoutMs: timeoutMs + 2_000 },
    );
    return { ok: true, data };
  } catch (err) {
    const e = toHalError(err);
    return { ok: false, code: e.code, message: e.message };
  }
}

/**
 * The session's last texts from the tracker's logs, for a hand-off prompt; undefined when the
 * tracker does not answer (the caller falls back to what this service projected itself).
 */
export async function lastMessagesFromTracker(
  nc: NatsConnection,
  session: string,
  count: number,
): Promise<string[] | undefined> {
  try {
    const page = await request(
      nc,
      subjects.trackerQuery(TrackerQuery.SESSIONS_LOGS),
      { session, limit: 200 },
      trackerQuerySchemas.sessions_logs.response,
      { timeoutMs: 2_000 },
    );
    const texts = page.entries
      .filter((e) => e.kind === 'text' && e.text)
      .map((e) => `${e.role}: ${(e.text ?? '').slice(-600)}`);
    return texts.slice(-count);
  } catch {
    return undefined;
  }
}

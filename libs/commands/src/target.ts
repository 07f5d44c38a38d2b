import { ErrorCode, HalError, type SessionState, type SessionView, TrackerQuery } from '@hal/protocol';
import type { TrackerClient } from './tracker-client.ts';

/** States of a session someone can still act on (resume, inject, kill, answer). */
export const LIVE_STATES: ReadonlySet<SessionState> = new Set([
  'starting',
  'running',
  'idle',
  'waiting_input',
  'compacted',
  'error',
]);
/** States in which a session is doing something (or waiting for an answer) right now. */
export const BUSY_STATES: ReadonlySet<SessionState> = new Set(['starting', 'running', 'waiting_input']);

/** A session people may mean when a project name matched several busy ones. */
export interface TargetCandidate {
  session: string;
  node: string;
  state: SessionState;
  title: string | null;
  last_activity_at: string | null;
}

const recency = (s: SessionView) => s.last_activity_at ?? s.started_at ?? '';

/**
 * What a person names is a session id or a project name. A project means its most recently
 * active live session; when several of its sessions are busy, guessing could abort the wrong
 * one, so the answer is TARGET_AMBIGUOUS with the candidates in `details.candidates` to pick from.
 */
export async function resolveTarget(tracker: TrackerClient, target: string): Promise<SessionView> {
  try {
    return await tracker.query(TrackerQuery.SESSIONS_GET, { session: target });
  } catch (err) {
    if (!(err instanceof HalError) || err.code !== ErrorCode.SESSION_NOT_FOUND) throw err;
  }
  const page = await tracker.query(TrackerQuery.SESSIONS_LIST, { project: target, limit: 500 });
  if (page.total === 0) {
    throw new HalError(ErrorCode.SESSION_NOT_FOUND, `no session or project is named "${target}"`);
  }
  const live = page.sessions
    .filter((s) => LIVE_STATES.has(s.state))
    .sort((a, b) => recency(b).localeCompare(recency(a)));
  const busy = live.filter((s) => BUSY_STATES.has(s.state));
  if (busy.length > 1) {
    const candidates: TargetCandidate[] = busy.map((s) => ({
      session: s.session,
      node: s.node,
      state: s.state,
      title: s.title,
      last_activity_at: s.last_activity_at,
    }));
    throw new HalError(
      ErrorCode.TARGET_AMBIGUOUS,
      `project "${target}" has ${busy.length} busy sessions; name one of them: ${candidates.map((c) => c.session).join(', ')}`,
      { details: { candidates } },
    );
  }
  const chosen = live[0];
  if (!chosen) {
    throw new HalError(
      ErrorCode.SESSION_NOT_FOUND,
      `project "${target}" has no live session (all completed or killed)`,
    );
  }
  return chosen;
}

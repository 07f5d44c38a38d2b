import {
  type Command,
  ErrorCode,
  HalError,
  resumeProjectPrompt,
  type SessionView,
  TrackerQuery,
} from '@hal/protocol';
import type { Principal } from './roles.ts';
import type { SessionCommands } from './session-commands.ts';
import { BUSY_STATES, LIVE_STATES } from './target.ts';
import type { TrackerClient } from './tracker-client.ts';

/** What `resume <project>` did. */
export const ProjectResumeAction = {
  /** A session of the project is working already (or waits for an answer): nothing was sent. */
  ALREADY_RUNNING: 'already_running',
  /** Its most recent live session was resumed. */
  RESUMED: 'resumed',
  /** No session of it was live: a new one started, told to read the .context files. */
  STARTED: 'started',
} as const;
export type ProjectResumeAction = (typeof ProjectResumeAction)[keyof typeof ProjectResumeAction];

export interface ProjectResumeResult {
  action: ProjectResumeAction;
  project: string;
  session: string;
  node: string;
  /** The agent's answer (absent for already_running). */
  data?: unknown;
}

const recency = (s: SessionView) => s.last_activity_at ?? s.started_at ?? '';

/**
 * `halctl resume <project>`: keeps a project's work going with one word. A busy session means
 * there is nothing to do; else the most recent live session on an online node is resumed; else
 * a new session starts whose first prompt reads `.context/PROGRESS.md` and `CURRENT_TASK.md`.
 * The idempotency key goes with the command, so a retry never starts a second session.
 */
export async function resumeProject(
  deps: { tracker: TrackerClient; sessions: SessionCommands },
  principal: Principal,
  opts: { project: string; node?: string; prompt?: string; timeoutMs?: number; idempotencyKey: string },
): Promise<ProjectResumeResult> {
  const { tracker, sessions } = deps;
  const page = await tracker.query(TrackerQuery.SESSIONS_LIST, {
    project: opts.project,
    ...(opts.node === undefined ? {} : { node: opts.node }),
    limit: 500,
  });
  const live = page.sessions
    .filter((s) => s.project === opts.project && LIVE_STATES.has(s.state))
    .sort((a, b) => recency(b).localeCompare(recency(a)));
  const busy = live.find((s) => BUSY_STATES.has(s.state));
  if (busy !== undefined) {
    return { action: 'already_running', project: opts.project, session: busy.session, node: busy.node };
  }
  const { nodes } = await tracker.query(TrackerQuery.NODES_LIST, {});
  const online = new Set(nodes.filter((n) => n.status === 'online').map((n) => n.node));
  const idle = live.find((s) => online.has(s.node));
  if (idle !== undefined) {
    const command: Command = {
      type: 'resume',
      session: idle.session,
      ...(opts.prompt === undefined ? {} : { prompt: opts.prompt }),
    };
    const data = await sessions.send(idle.node, command, principal, opts.timeoutMs, opts.idempotencyKey);
    return { action: 'resumed', project: opts.project, session: idle.session, node: idle.node, data };
  }
  const node = await sessions.startNode(principal, opts.project, opts.node, opts.idempotencyKey);
  const command: Command = {
    type: 'start',
    project: opts.project,
    prompt: resumeProjectPrompt(opts.project, opts.prompt),
    title: `resume of ${opts.project}`.slice(0, 256),
  };
  const data = await sessions.send(node, command, principal, opts.timeoutMs, opts.idempotencyKey);
  const session =
    typeof data === 'object' && data !== null && 'session' in data && typeof data.session === 'string'
      ? data.session
      : '';
  if (session === '') {
    throw new HalError(ErrorCode.INTERNAL, `node ${node} started no session for project ${opts.project}`);
  }
  return { action: 'started', project: opts.project, session, node, data };
}

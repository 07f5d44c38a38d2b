import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { Logger } from '@hal/observability';
import { CONTEXT_TASK_FILE, CONTEXT_TASK_LIMITS, cleanHostText, EventType } from '@hal/protocol';
import { contextScaffold } from './env/checks/context-files.ts';
import { resolveInside } from './env/project-files.ts';
import type { ProjectEvent, ProjectRef } from './opencode-events.ts';

export type TaskRead =
  | { kind: 'task'; text: string }
  | { kind: 'none' }
  /** A symlink, a directory, a FIFO, a path out of the project: never followed, never read. */
  | { kind: 'refused'; detail: string };

/** Sessions whose last reported task is remembered (the oldest is forgotten first). */
const MAX_SESSIONS = 10_000;
/** Session events after which the file is looked at: a new session, a turn starting or ending. */
const TRIGGERS: ReadonlySet<string> = new Set([
  EventType.SESSION_CREATED,
  EventType.SESSION_BUSY,
  EventType.SESSION_IDLE,
]);

/**
 * The project's `.context/CURRENT_TASK.md`, read as untrusted host text: the path must stay in
 * the project (a symlinked `.context/` is refused), the file itself is opened without following
 * a symlink and must be a regular file, only its first CONTEXT_TASK_LIMITS.readBytes are read,
 * and the text is cleaned and clipped like every other host text. The untouched scaffold the
 * env module writes counts as no task.
 */
export function readContextTask(directory: string, project: string): TaskRead {
  let path: string;
  try {
    path = resolveInside(directory, CONTEXT_TASK_FILE);
  } catch (err) {
    return { kind: 'refused', detail: (err as Error).message };
  }
  let fd: number;
  try {
    // O_NONBLOCK: a FIFO planted there must not hang the agent.
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'none' };
    if (code === 'ELOOP') return { kind: 'refused', detail: `${CONTEXT_TASK_FILE} is a symbolic link` };
    return { kind: 'refused', detail: `${CONTEXT_TASK_FILE} cannot be opened (${code ?? 'error'})` };
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) return { kind: 'refused', detail: `${CONTEXT_TASK_FILE} is not a regular file` };
    const buf = Buffer.alloc(Math.min(st.size, CONTEXT_TASK_LIMITS.readBytes));
    const n = buf.length === 0 ? 0 : readSync(fd, buf, 0, buf.length, 0);
    const text = cleanHostText(buf.subarray(0, n).toString('utf8'), CONTEXT_TASK_LIMITS.chars).trim();
    if (text === '' || text === contextScaffold('CURRENT_TASK.md', project)?.trim()) return { kind: 'none' };
    return { kind: 'task', text };
  } finally {
    closeSync(fd);
  }
}

export interface ContextTasks {
  /** Every event the agent emits: a session event looks at its project's CURRENT_TASK.md. */
  observe(event: { project: string; session: string | null; type: string }): void;
}

/**
 * Reports each session's current task from its project's CURRENT_TASK.md as `session.task`,
 * when the file's text differs from what was last reported for that session. Looked at on the
 * session's own events (created, busy, idle), so a task the session writes during a turn is
 * reported when the turn ends; no watcher, nothing polled while the fleet sleeps.
 */
export function createContextTasks(deps: {
  projects: readonly ProjectRef[];
  log: Logger;
  emit(events: ProjectEvent[]): void;
}): ContextTasks {
  const reported = new Map<string, string>();
  const warned = new Set<string>();

  function look(project: ProjectRef, session: string): void {
    const r = readContextTask(project.directory, project.name);
    if (r.kind === 'refused') {
      const key = `${project.name}\n${r.detail}`;
      if (!warned.has(key)) {
        warned.add(key);
        deps.log.warn({ project: project.name, detail: r.detail }, 'CURRENT_TASK.md refused');
      }
      return;
    }
    if (r.kind === 'none' || reported.get(session) === r.text) return;
    reported.delete(session);
    if (reported.size >= MAX_SESSIONS) {
      const oldest = reported.keys().next().value;
      if (oldest !== undefined) reported.delete(oldest);
    }
    reported.set(session, r.text);
    deps.emit([
      {
        project: project.name,
        session,
        type: EventType.SESSION_TASK,
        data: { task: r.text, file: CONTEXT_TASK_FILE },
        refs: {},
      },
    ]);
  }

  return {
    observe(event) {
      const session = event.session;
      if (session === null) return;
      if (event.type === EventType.SESSION_DELETED) {
        reported.delete(session);
        return;
      }
      if (!TRIGGERS.has(event.type)) return;
      const project = deps.projects.find((p) => p.name === event.project);
      if (project === undefined) return;
      // After the event that triggered it is spooled: the task follows it in the stream.
      queueMicrotask(() => {
        try {
          look(project, session);
        } catch (err) {
          deps.log.warn({ err, project: project.name }, 'CURRENT_TASK.md not read');
        }
      });
    },
  };
}

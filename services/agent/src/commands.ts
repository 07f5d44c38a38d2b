import type { Logger } from '@hal/observability';
import {
  type Command,
  ErrorCode,
  errorReply,
  HalError,
  okReply,
  type Reply,
  toHalError,
} from '@hal/protocol';
import type { Deadlines } from './deadlines.ts';
import type { EnvModule } from './env/env-module.ts';
import type { HandOffCommand, HandOffRunner } from './hand-off.ts';
import type { OpencodeClient } from './opencode-client.ts';
import type { ProjectRef } from './opencode-events.ts';
import type { OcMessage } from './opencode-schemas.ts';
import type { SessionRegistry } from './session-registry.ts';

export const DEFAULT_RESUME_PROMPT = 'Continue with the task.';

export interface CommandRunnerDeps {
  client: OpencodeClient;
  projects: readonly ProjectRef[];
  registry: SessionRegistry;
  log: Logger;
  /** Upper bound of any command; the gateway's own `timeout_ms` may be shorter. */
  defaultTimeoutMs: number;
  /** Command deadlines, read from the agent's clock. */
  deadlines: Deadlines;
  /** Environment checks and fixes (`env_*` commands). */
  env: EnvModule;
  /** Graceful hand-offs (`handoff`): answered at once, run on afterwards. */
  handOffs: HandOffRunner;
}

export interface CommandRunner {
  /** Runs the command with its deadline (the shorter of `timeoutMs` and the agent's own). */
  run(command: Command, timeoutMs?: number): Promise<Reply<unknown>>;
  /** Runs the command to its end, however long it takes; never throws. */
  execute(command: Command): Promise<Reply<unknown>>;
  /** The deadline `run` applies to `command` for a gateway's `timeoutMs`. */
  deadlineOf(command: Command, timeoutMs?: number): number;
}

interface Located {
  project: ProjectRef;
  session: string;
}

/** A `restart` as the hand-off it runs: the same prompt, the policy's part, the default wait. */
function asHandOff(cmd: Extract<Command, { type: 'restart' | 'handoff' }>): HandOffCommand {
  if (cmd.type === 'handoff') return cmd;
  return {
    type: 'handoff',
    session: cmd.session,
    ...(cmd.prompt === undefined ? {} : { prompt: cmd.prompt }),
    ...(cmd.handoff === undefined ? {} : { handoff: cmd.handoff }),
  };
}

/** One compact line per part of a message, for `logs`. */
function logEntries(messages: readonly OcMessage[]) {
  const out: Array<Record<string, unknown>> = [];
  for (const m of messages) {
    const time = m.info.time?.created === undefined ? undefined : new Date(m.info.time.created).toISOString();
    for (const p of m.parts) {
      if (p.type === 'text' && p.text !== undefined) {
        out.push({ time, role: m.info.role, message_id: m.info.id, kind: 'text', text: p.text });
      } else if (p.type === 'tool') {
        out.push({
          time,
          role: m.info.role,
          message_id: m.info.id,
          kind: 'tool',
          tool: p.tool,
          status: p.state?.status,
          title: p.state?.title,
        });
      }
    }
    if (m.info.role === 'assistant' && m.info.time?.completed !== undefined) {
      out.push({
        time,
        role: 'assistant',
        message_id: m.info.id,
        kind: 'usage',
        model: m.info.modelID,
        tokens: m.info.tokens,
        cost_usd: m.info.cost ?? 0,
      });
    }
  }
  return out;
}

/**
 * Runs gateway commands against opencode. Each command gets a deadline; failures come back as
 * error replies with a stable code, never as exceptions, so the read loop is never disturbed.
 */
export function createCommandRunner(deps: CommandRunnerDeps): CommandRunner {
  const { client, registry } = deps;

  function projectByName(name: string): ProjectRef {
    const p = deps.projects.find((x) => x.name === name);
    if (p === undefined) {
      throw new HalError(ErrorCode.PROJECT_NOT_FOUND, `project "${name}" is not configured on this node`, {
        details: { project: name, known: deps.projects.map((x) => x.name) },
      });
    }
    return p;
  }

  /** Finds which project a session lives in: the registry first, else ask opencode per project. */
  async function locate(session: string): Promise<Located> {
    const known = registry.get(session);
    const order = known === undefined ? deps.projects : [projectByName(known.project), ...deps.projects];
    for (const project of order) {
      try {
        await client.getSession(project.directory, session);
        return { project, session };
      } catch (err) {
        if (!(err instanceof HalError && err.code === ErrorCode.SESSION_NOT_FOUND)) throw err;
      }
    }
    throw new HalError(ErrorCode.SESSION_NOT_FOUND, `session "${session}" not found on this node`, {
      details: { session },
    });
  }

  /**
   * For calls that answer 404 on an unknown session themselves (prompt_async): one opencode call
   * when the registry knows the session's project, the look-up only when it does not or was wrong.
   */
  async function onSession<T>(session: string, call: (at: Located) => Promise<T>): Promise<T> {
    const known = registry.get(session);
    const project = known === undefined ? undefined : deps.projects.find((p) => p.name === known.project);
    if (project !== undefined) {
      try {
        return await call({ project, session });
      } catch (err) {
        if (!(err instanceof HalError && err.code === ErrorCode.SESSION_NOT_FOUND)) throw err;
      }
    }
    return call(await locate(session));
  }

  async function execute(cmd: Command): Promise<unknown> {
    switch (cmd.type) {
      case 'start': {
        const project = projectByName(cmd.project);
        const created = await client.createSession(project.directory, cmd.title ? { title: cmd.title } : {});
        if (cmd.prompt !== undefined) await client.promptAsync(project.directory, created.id, cmd.prompt);
        return {
          session: created.id,
          project: project.name,
          title: created.title,
          prompted: cmd.prompt !== undefined,
        };
      }
      case 'inject': {
        await onSession(cmd.session, (at) =>
          client.promptAsync(at.project.directory, at.session, cmd.prompt),
        );
        return { session: cmd.session, injected: true };
      }
      case 'resume': {
        const at = await onSession(cmd.session, async (at) => {
          await client.promptAsync(at.project.directory, at.session, cmd.prompt ?? DEFAULT_RESUME_PROMPT);
          return at;
        });
        return { session: at.session, resumed: true };
      }
      case 'kill': {
        // opencode answers `true` to an abort of an unknown id, so locate first for an honest 404.
        const at = await locate(cmd.session);
        const aborted = await client.abort(at.project.directory, at.session);
        return { session: at.session, aborted };
      }
      case 'restart':
      case 'handoff': {
        // One implementation: a restart IS the graceful hand-off (§7.2), answered at once with
        // its id; the new session arrives in handoff.completed. An unknown session is
        // SESSION_NOT_FOUND here, before anything is touched.
        const at = await locate(cmd.session);
        return deps.handOffs.begin(at, asHandOff(cmd));
      }
      case 'status': {
        if (cmd.session === undefined) return { sessions: registry.snapshot() };
        const entry = registry.snapshot().find((s) => s.session === cmd.session);
        if (entry !== undefined) return entry;
        const at = await locate(cmd.session);
        const s = await client.getSession(at.project.directory, at.session);
        const statuses = await client.sessionStatus(at.project.directory);
        const st = statuses[at.session]?.type;
        return {
          session: s.id,
          project: at.project.name,
          title: s.title,
          state: st === undefined || st === 'idle' ? 'idle' : 'running',
        };
      }
      case 'logs': {
        const at = await locate(cmd.session);
        const messages = await client.messages(at.project.directory, at.session, cmd.limit);
        const entries = logEntries(messages);
        return {
          session: at.session,
          entries: cmd.limit === undefined ? entries : entries.slice(-cmd.limit),
        };
      }
      case 'permission': {
        const at = await locate(cmd.session);
        await client.replyPermission(at.project.directory, at.session, cmd.permission_id, cmd.response);
        return { session: at.session, permission_id: cmd.permission_id, response: cmd.response };
      }
      case 'env_check':
        return deps.env.check(cmd.specs, cmd.project);
      case 'env_provision':
        return deps.env.provision(cmd.specs, { project: cmd.project, dryRun: cmd.dry_run, only: cmd.only });
      case 'env_approve':
        return deps.env.approve(cmd.spec, cmd.item);
    }
  }

  function deadlineOf(cmd: Command, timeoutMs: number | undefined): number {
    // An approved install may take minutes: its own bound replaces command_timeout_ms.
    const cap = cmd.type === 'env_approve' ? deps.env.approveTimeoutMs : deps.defaultTimeoutMs;
    return Math.min(timeoutMs ?? cap, cap);
  }

  /** Never throws: a failure is an error reply with its code. */
  async function settle(cmd: Command): Promise<Reply<unknown>> {
    try {
      return okReply(await execute(cmd));
    } catch (err) {
      const e = toHalError(err);
      deps.log.warn({ err: e, command: cmd.type, code: e.code }, 'command failed');
      return errorReply(e);
    }
  }

  return {
    execute: settle,
    run(cmd, timeoutMs) {
      return withDeadline(settle(cmd), cmd, deadlineOf(cmd, timeoutMs), deps.deadlines);
    },
    deadlineOf,
  };
}

/**
 * The reply to send: `work`'s, or TIMEOUT when it is slower than `limitMs`. The work itself goes
 * on (an opencode call cannot be taken back), so whoever keeps its outcome still gets it.
 */
export async function withDeadline(
  work: Promise<Reply<unknown>>,
  cmd: Command,
  limitMs: number,
  deadlines: Deadlines,
): Promise<Reply<unknown>> {
  let cancel: (() => void) | undefined;
  const deadline = new Promise<Reply<unknown>>((resolve) => {
    cancel = deadlines.after(limitMs, () =>
      resolve(
        errorReply(
          new HalError(ErrorCode.TIMEOUT, `command ${cmd.type} did not finish within ${limitMs} ms`),
        ),
      ),
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    cancel?.();
  }
}

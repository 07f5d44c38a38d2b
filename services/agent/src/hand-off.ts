import type { Logger } from '@hal/observability';
import {
  cleanHostLine,
  ErrorCode,
  EventType,
  HANDOFF_WAIT_IDLE,
  HalError,
  type HandOffAccepted,
  HandOffStage,
  type handOffCommandSchema,
  handOffPrompt,
  handOffUpdatePrompt,
  toHalError,
} from '@hal/protocol';
import type { z } from 'zod';
import type { Deadlines } from './deadlines.ts';
import type { OpencodeClient } from './opencode-client.ts';
import type { ProjectEvent, ProjectRef } from './opencode-events.ts';
import type { OcMessage } from './opencode-schemas.ts';

export type HandOffCommand = z.infer<typeof handOffCommandSchema>;

/** The suffix of a new session's title, after the old (cleaned, bounded) title. */
const TITLE_SUFFIX = ' (handed off)';

export interface HandOffRunnerDeps {
  client: OpencodeClient;
  log: Logger;
  /** The agent's single entry of events (spool, then socket). */
  emit(events: ProjectEvent[]): void;
  /** The agent's clock: `waited_ms` is measured on it. */
  now: () => number;
  /** The idle wait's bound runs on the agent's clock (a test moves a FakeClock and checks). */
  deadlines: Deadlines;
  newId?: () => string;
}

export interface HandOffRunner {
  /**
   * Starts a hand-off of `session` and answers at once; progress comes as `handoff.*` events.
   * CONFLICT when that session is already being handed off.
   */
  begin(at: { project: ProjectRef; session: string }, command: HandOffCommand): HandOffAccepted;
  /** Every event the agent emits, so a waiting hand-off sees its session go busy, then idle. */
  observe(event: { session: string | null; type: string }): void;
  /** Hand-offs still running. */
  running(): number;
  /**
   * Ends every hand-off that has not aborted its session yet with `handoff.failed` (the agent
   * stopping must not stop a session) and waits for the others to finish.
   */
  stop(): Promise<void>;
}

interface Running {
  id: string;
  session: string;
  /** Resolves the idle wait early: `true` on idle, `false` when cancelled. */
  wake?: (idle: boolean) => void;
  seenBusy: boolean;
  cancelled: boolean;
  done: Promise<void>;
}

/** The text of the first user message that a person or a caller wrote (not opencode's own). */
function firstUserText(messages: readonly OcMessage[]): string | undefined {
  for (const m of messages) {
    if (m.info.role !== 'user') continue;
    const text = m.parts
      .filter((p) => p.type === 'text' && p.synthetic !== true)
      .map((p) => p.text ?? '')
      .join('\n')
      .trim();
    if (text !== '') return text;
  }
  return undefined;
}

/**
 * The graceful hand-off of §7.2, on this host: (1) ask the session to write its stop point into
 * `.context/PROGRESS.md` and `CURRENT_TASK.md`, (2) wait for it to go idle, bounded, (3) abort
 * it, (4) start a new session whose first prompt reads those files, (5) report the new session
 * in `handoff.completed` so the tracker links both. It outlives the command that started it.
 */
export function createHandOffRunner(deps: HandOffRunnerDeps): HandOffRunner {
  const { client, log } = deps;
  const now = deps.now;
  const newId = deps.newId ?? (() => `ho_${crypto.randomUUID().replaceAll('-', '')}`);
  const bySession = new Map<string, Running>();

  function emit(project: string, session: string, type: string, data: Record<string, unknown>): void {
    deps.emit([{ project, session, type, data, refs: {} }]);
  }

  /**
   * Resolves `true` when the session went busy and then idle, `false` when `ms` passed first by
   * the agent's clock.
   */
  function waitIdle(run: Running, ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    return new Promise<boolean>((resolve) => {
      const cancel = deps.deadlines.after(ms, () => finish(false));
      function finish(idle: boolean): void {
        cancel();
        run.wake = undefined;
        resolve(idle);
      }
      run.wake = finish;
    });
  }

  async function perform(
    run: Running,
    project: ProjectRef,
    cmd: HandOffCommand,
    waitMs: number,
  ): Promise<void> {
    const dir = project.directory;
    let stage: HandOffStage = HandOffStage.UPDATE_CONTEXT;
    let aborted = false;
    const started = now();
    try {
      // Read before the update prompt: the first user text is then still the original task.
      const old = await client.getSession(dir, run.session);
      const messages = await client.messages(dir, run.session);
      if (run.cancelled) throw stopping();
      await client.promptAsync(dir, run.session, handOffUpdatePrompt());
      stage = HandOffStage.WAIT_IDLE;
      const wentIdle = await waitIdle(run, waitMs);
      if (run.cancelled) throw stopping();
      const waited = Math.max(0, Math.round(now() - started));
      stage = HandOffStage.ABORT;
      await client.abort(dir, run.session);
      aborted = true;
      stage = HandOffStage.START_NEW;
      const oldTitle = old.title === undefined ? '' : cleanHostLine(old.title, 200);
      const created = await client.createSession(dir, {
        title: oldTitle === '' ? `hand-off of ${run.session}` : `${oldTitle}${TITLE_SUFFIX}`,
      });
      const prompt = handOffPrompt({
        session: run.session,
        title: old.title,
        task: firstUserText(messages) ?? cmd.handoff?.task,
        intro: cmd.handoff?.intro,
        lastMessages: cmd.handoff?.last_messages,
        note: cmd.prompt,
        contextFiles: true,
      });
      await client.promptAsync(dir, created.id, prompt);
      emit(project.name, run.session, EventType.HANDOFF_COMPLETED, {
        handoff_id: run.id,
        session: created.id,
        went_idle: wentIdle,
        waited_ms: waited,
      });
      log.info(
        { handoff_id: run.id, session: run.session, next: created.id, went_idle: wentIdle },
        'hand-off completed',
      );
    } catch (err) {
      const e = toHalError(err);
      emit(project.name, run.session, EventType.HANDOFF_FAILED, {
        handoff_id: run.id,
        stage,
        code: e.code,
        message: e.message.slice(0, 500),
        aborted,
      });
      log.warn({ err: e, handoff_id: run.id, session: run.session, stage, aborted }, 'hand-off failed');
    }
  }

  function stopping(): HalError {
    return new HalError(ErrorCode.UNAVAILABLE, 'the agent stopped before the hand-off aborted the session');
  }

  return {
    begin(at, cmd) {
      const busy = bySession.get(at.session);
      if (busy !== undefined) {
        throw new HalError(
          ErrorCode.CONFLICT,
          `session ${at.session} is already being handed off (${busy.id})`,
          { details: { handoff_id: busy.id } },
        );
      }
      const waitMs = cmd.wait_idle_ms ?? HANDOFF_WAIT_IDLE.defaultMs;
      const run: Running = {
        id: newId(),
        session: at.session,
        seenBusy: false,
        cancelled: false,
        done: Promise.resolve(),
      };
      bySession.set(at.session, run);
      // Reported before the command's answer leaves, so a reader of the session's events sees
      // `handoff.started` before anything the hand-off causes.
      emit(at.project.name, at.session, EventType.HANDOFF_STARTED, {
        handoff_id: run.id,
        wait_idle_ms: waitMs,
      });
      run.done = perform(run, at.project, cmd, waitMs).finally(() => {
        if (bySession.get(at.session) === run) bySession.delete(at.session);
      });
      return { handoff_id: run.id, session: at.session, project: at.project.name, wait_idle_ms: waitMs };
    },
    observe(event) {
      if (event.session === null) return;
      const run = bySession.get(event.session);
      if (run === undefined) return;
      if (event.type === EventType.SESSION_BUSY) run.seenBusy = true;
      // Idle only counts after the update prompt made it busy: an idle from before is old news.
      else if (event.type === EventType.SESSION_IDLE && run.seenBusy) run.wake?.(true);
    },
    running: () => bySession.size,
    async stop() {
      const all = [...bySession.values()];
      for (const run of all) {
        run.cancelled = true;
        run.wake?.(false);
      }
      await Promise.all(all.map((r) => r.done));
    },
  };
}

import {
  type EventRecord,
  EventType,
  HANDOFF_LIMITS,
  type HandOff,
  handOffAcceptedSchema,
  handOffCompletedDataSchema,
  handOffFailedDataSchema,
} from '@hal/protocol';
import { isSessionOver, type SessionFacts } from '../facts.ts';
import { attemptsInWindow, interventionBlocked, type SessionRule, type Verdict } from './rule.ts';

export interface RestartState {
  /** Set at the claim: this session is restarted once, ever. */
  handled_at: number | null;
  attempts: number[];
  /**
   * The new session: from the agent's `handoff.completed` (a restart is a hand-off and answers
   * before the new session exists), or from the answer of an agent of the previous protocol.
   */
  new_session: string | null;
  /** The hand-off the restart started (absent in states stored before restarts were hand-offs). */
  handoff_id?: string | null;
}

/**
 * The outcome of this rule's own hand-off, reported by the agent: fills `new_session` and logs
 * a decision with the outcome. Events of another hand-off (a manual one) change nothing.
 */
function handOffOutcome(state: RestartState | undefined, event: EventRecord): Verdict<RestartState> | null {
  if (!state?.handoff_id) return null;
  if (event.type === EventType.HANDOFF_COMPLETED) {
    const done = handOffCompletedDataSchema.safeParse(event.data);
    if (!done.success || done.data.handoff_id !== state.handoff_id) return null;
    const how = done.data.went_idle ? 'after it went idle' : 'when the wait for idle ran out';
    return {
      state: { ...state, new_session: done.data.session },
      effect: {
        decision: 'acted',
        reason: `restarted as ${done.data.session}: hand-off ${state.handoff_id} stopped the session ${how}`,
      },
    };
  }
  const failed = handOffFailedDataSchema.safeParse(event.data);
  if (!failed.success || failed.data.handoff_id !== state.handoff_id) return null;
  // Not retried: "restarted once, ever" holds for an attempt too; handoff.failed is routable.
  const where = failed.data.aborted ? 'the session is stopped' : 'the session was left running';
  return {
    state,
    effect: {
      decision: 'skipped',
      reason: `hand-off ${state.handoff_id} failed at ${failed.data.stage} (${failed.data.code}); ${where}; not retried`,
    },
  };
}

/** What the agent answered a `restart`: a hand-off (its id), or the new session (previous protocol). */
function restartAnswer(data: unknown): Pick<RestartState, 'new_session' | 'handoff_id'> {
  const accepted = handOffAcceptedSchema.safeParse(data);
  if (accepted.success) return { new_session: null, handoff_id: accepted.data.handoff_id };
  const next = (data as { session?: unknown } | undefined)?.session;
  return { new_session: typeof next === 'string' ? next : null, handoff_id: null };
}

export function compactionReached(
  f: SessionFacts,
  cfg: { compactions: number; token_threshold?: number | undefined },
) {
  if (f.compactions >= cfg.compactions) return `${f.compactions} compactions (limit ${cfg.compactions})`;
  if (cfg.token_threshold !== undefined && f.context_tokens >= cfg.token_threshold) {
    return `${f.context_tokens} context tokens (limit ${cfg.token_threshold})`;
  }
  return null;
}

/**
 * The policy's part of the hand-off: its framing text, the last messages (from the tracker's logs)
 * and the task it projected, which the agent uses only when opencode no longer has the old
 * session's first prompt. The agent builds the one prompt (handOffPrompt in @hal/protocol).
 */
export function handOffOf(intro: string, f: SessionFacts, lastMessages: readonly string[]): HandOff {
  const last = lastMessages.slice(-HANDOFF_LIMITS.messages).map((m) => m.slice(-HANDOFF_LIMITS.message));
  return {
    intro: intro.slice(0, HANDOFF_LIMITS.intro),
    ...(last.length > 0 ? { last_messages: last } : {}),
    ...(f.task ? { task: f.task.slice(0, HANDOFF_LIMITS.task) } : {}),
  };
}

export const restartOnCompactionRule: SessionRule<RestartState> = {
  name: 'restart_on_compaction',
  events: [
    EventType.SESSION_COMPACTED,
    EventType.MESSAGE_COMPLETED,
    EventType.HANDOFF_COMPLETED,
    EventType.HANDOFF_FAILED,
  ],
  onTick: false,
  decide(state, { now, facts: f, policies, event, lastMessages }) {
    if (event?.type === EventType.HANDOFF_COMPLETED || event?.type === EventType.HANDOFF_FAILED) {
      return handOffOutcome(state, event);
    }
    const cfg = policies.restart_on_compaction;
    const why = compactionReached(f, cfg);
    if (why === null || isSessionOver(f)) return null;
    if (state?.handled_at != null) {
      // Recorded on compactions only: message.completed arrives too often to log each one.
      if (event?.type !== EventType.SESSION_COMPACTED) return null;
      return {
        state,
        effect: {
          decision: 'skipped',
          reason: `already restarted${restartedAs(state)}; ${why}`,
        },
      };
    }
    const blocked = interventionBlocked(f, now);
    if (blocked !== null) return null;
    const attempts = attemptsInWindow(state?.attempts, now, cfg.retry_reset_seconds);
    if (attempts.length >= cfg.max_retries) return null;
    const handled: RestartState = {
      handled_at: now,
      attempts: [...attempts, now],
      new_session: null,
      handoff_id: null,
    };
    return {
      state: handled,
      effect: {
        decision: 'acted',
        reason: `${why}: restarting through a hand-off`,
        retire: 'restart_on_compaction',
        command: {
          type: 'restart',
          session: f.session,
          handoff: handOffOf(cfg.handoff_prompt, f, lastMessages ?? f.last_texts),
        },
      },
      failState: { ...handled, handled_at: null },
    };
  },
  settle: (s, data) => ({ ...s, ...restartAnswer(data) }),
};

function restartedAs(state: RestartState): string {
  if (state.new_session) return ` as ${state.new_session}`;
  return state.handoff_id ? ` (hand-off ${state.handoff_id} not completed)` : '';
}

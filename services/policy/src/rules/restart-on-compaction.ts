import { EventType, HANDOFF_LIMITS, type HandOff } from '@hal/protocol';
import { isSessionOver, type SessionFacts } from '../facts.ts';
import { attemptsInWindow, interventionBlocked, type SessionRule } from './rule.ts';

export interface RestartState {
  /** Set at the claim: this session is restarted once, ever. */
  handled_at: number | null;
  attempts: number[];
  new_session: string | null;
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
  events: [EventType.SESSION_COMPACTED, EventType.MESSAGE_COMPLETED],
  onTick: false,
  decide(state, { now, facts: f, policies, event, lastMessages }) {
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
          reason: `already restarted${state.new_session ? ` as ${state.new_session}` : ''}; ${why}`,
        },
      };
    }
    const blocked = interventionBlocked(f, now);
    if (blocked !== null) return null;
    const attempts = attemptsInWindow(state?.attempts, now, cfg.retry_reset_seconds);
    if (attempts.length >= cfg.max_retries) return null;
    return {
      state: { handled_at: now, attempts: [...attempts, now], new_session: null },
      effect: {
        decision: 'acted',
        reason: `${why}: restarting with a hand-off prompt`,
        retire: 'restart_on_compaction',
        command: {
          type: 'restart',
          session: f.session,
          handoff: handOffOf(cfg.handoff_prompt, f, lastMessages ?? f.last_texts),
        },
      },
      after: (s, ok, data) => {
        if (!ok) return { ...s, handled_at: null };
        const next = (data as { session?: unknown } | undefined)?.session;
        return { ...s, new_session: typeof next === 'string' ? next : null };
      },
    };
  },
};

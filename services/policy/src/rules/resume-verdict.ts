import { Severity } from '@hal/protocol';
import { attemptsInWindow, type Verdict } from './rule.ts';

/** Shared by both resume policies: one resume per period, capped retries, one alert at the cap. */
export interface ResumeState {
  /** The period (idle start, or limit time) already resumed; never resumed twice. */
  fired_for: number | null;
  /** When resumes were attempted, successful or not. */
  attempts: number[];
  /** No attempt before this (cooldown after a failure, or the cap's reset). */
  retry_at: number | null;
}

export interface ResumeInput {
  period: number;
  now: number;
  max_retries: number;
  retry_reset_seconds: number;
  cooldown_seconds: number;
  session: string;
  prompt: string;
  reason: string;
  capTitle: string;
}

export function resumeVerdict(state: ResumeState | undefined, i: ResumeInput): Verdict<ResumeState> | null {
  if (state?.fired_for === i.period) return null;
  if (state?.retry_at != null && i.now < state.retry_at) return null;
  const attempts = attemptsInWindow(state?.attempts, i.now, i.retry_reset_seconds);
  if (attempts.length >= i.max_retries) {
    // Blocked until the oldest attempt leaves the window; recorded (and alerted) once for it.
    const until = (attempts[0] ?? i.now) + i.retry_reset_seconds * 1000;
    return {
      state: { fired_for: null, attempts, retry_at: until },
      effect: {
        decision: 'skipped',
        reason: `retry cap reached: ${attempts.length} resumes within ${i.retry_reset_seconds} s; blocked until ${new Date(until).toISOString()}`,
        alert: { title: i.capTitle, severity: Severity.CRITICAL },
      },
    };
  }
  const claimed: ResumeState = { fired_for: i.period, attempts: [...attempts, i.now], retry_at: null };
  return {
    state: claimed,
    effect: {
      decision: 'acted',
      reason: i.reason,
      command: { type: 'resume', session: i.session, prompt: i.prompt },
    },
    // A failed resume does not use up the period: it is tried again after the cooldown, and
    // the attempt still counts towards the cap.
    failState: { ...claimed, fired_for: null, retry_at: i.now + i.cooldown_seconds * 1000 },
  };
}

import { SessionState, Severity } from '@hal/protocol';
import { isSessionOver } from '../facts.ts';
import {
  attemptsInWindow,
  interventionBlocked,
  type SessionRule,
  secondsSince,
  type Verdict,
} from './rule.ts';

/** Shared by both resume policies: one resume per period, capped retries, one alert at the cap. */
export interface ResumeState {
  /** The period (idle start, or limit time) already resumed; never resumed twice. */
  fired_for: number | null;
  /** When resumes were attempted, successful or not. */
  attempts: number[];
  /** No attempt before this (cooldown after a failure, or the cap's reset). */
  retry_at: number | null;
}

interface ResumeInput {
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

function resumeVerdict(state: ResumeState | undefined, i: ResumeInput): Verdict<ResumeState> | null {
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
  return {
    state: { fired_for: i.period, attempts: [...attempts, i.now], retry_at: null },
    effect: {
      decision: 'acted',
      reason: i.reason,
      command: { type: 'resume', session: i.session, prompt: i.prompt },
    },
    // A failed resume does not use up the period: it is tried again after the cooldown, and
    // the attempt still counts towards the cap.
    after: (s, ok) => (ok ? s : { ...s, fired_for: null, retry_at: i.now + i.cooldown_seconds * 1000 }),
  };
}

export const resumeOnIdleRule: SessionRule<ResumeState> = {
  name: 'resume_on_idle',
  events: [],
  onTick: true,
  decide(state, { now, facts: f, node, policies }) {
    const cfg = policies.resume_on_idle;
    if (f.state !== SessionState.IDLE || f.idle_since === null || f.pending.length > 0) return null;
    if (now - f.idle_since < cfg.idle_threshold_seconds * 1000) return null;
    if (node !== undefined && !node.online) return null;
    if (interventionBlocked(f, now) !== null) return null;
    // A session stopped by a provider limit is resume_after_limit's, at the reset time.
    if (f.limit !== null) {
      const resumeAt = f.limit.resume_at ?? f.limit.at + policies.resume_after_limit.fallback_seconds * 1000;
      if (now < resumeAt) return null;
    }
    return resumeVerdict(state, {
      period: f.idle_since,
      now,
      max_retries: cfg.max_retries,
      retry_reset_seconds: cfg.retry_reset_seconds,
      cooldown_seconds: cfg.cooldown_seconds,
      session: f.session,
      prompt: cfg.prompt,
      reason: `idle for ${secondsSince(now, f.idle_since)} s (threshold ${cfg.idle_threshold_seconds} s)`,
      capTitle: 'Session keeps stopping',
    });
  },
};

export const resumeAfterLimitRule: SessionRule<ResumeState> = {
  name: 'resume_after_limit',
  events: [],
  onTick: true,
  decide(state, { now, facts: f, node, policies }) {
    const cfg = policies.resume_after_limit;
    if (f.limit === null || state?.fired_for === f.limit.at) return null;
    const resumeAt = f.limit.resume_at ?? f.limit.at + cfg.fallback_seconds * 1000;
    if (now < resumeAt) return null;
    if (node !== undefined && !node.online) return null;
    if (interventionBlocked(f, now) !== null) return null;
    if (f.state === SessionState.RUNNING || isSessionOver(f) || f.pending.length > 0) {
      // opencode retried by itself (or people took over): nothing to resume for this limit.
      return {
        state: { fired_for: f.limit.at, attempts: state?.attempts ?? [], retry_at: null },
        effect: { decision: 'skipped', reason: `session is ${f.state} at the limit's reset time` },
      };
    }
    const source =
      f.limit.resume_at === null ? `fallback ${cfg.fallback_seconds} s` : 'the provider reset time';
    return resumeVerdict(state, {
      period: f.limit.at,
      now,
      max_retries: cfg.max_retries,
      retry_reset_seconds: cfg.retry_reset_seconds,
      cooldown_seconds: cfg.cooldown_seconds,
      session: f.session,
      prompt: cfg.prompt,
      reason: `provider limit reset (${source}): ${f.last_error ?? 'usage limit'}`,
      capTitle: 'Session keeps hitting its provider limit',
    });
  },
};

import { SessionState } from '@hal/protocol';
import { type ResumeState, resumeVerdict } from './resume-verdict.ts';
import { interventionBlocked, type SessionRule, secondsSince } from './rule.ts';

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

import { SessionState } from '@hal/protocol';
import { isSessionOver } from '../facts.ts';
import { type ResumeState, resumeVerdict } from './resume-verdict.ts';
import { interventionBlocked, type SessionRule } from './rule.ts';

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

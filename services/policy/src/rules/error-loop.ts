import { EventType, Severity } from '@hal/protocol';
import type { SessionRule } from './rule.ts';

export interface ErrorLoopState {
  tripped_until: number | null;
}

export const errorLoopRule: SessionRule<ErrorLoopState> = {
  name: 'error_loop',
  events: [EventType.SESSION_ERROR],
  onTick: false,
  decide(state, { now, facts: f, policies }) {
    const cfg = policies.error_loop;
    if (state?.tripped_until != null && now < state.tripped_until) return null;
    const recent = f.error_times.filter((t) => now - t < cfg.window_seconds * 1000);
    if (recent.length < cfg.errors) return null;
    const until = now + cfg.retry_reset_seconds * 1000;
    return {
      state: { tripped_until: until },
      effect: {
        decision: 'acted',
        reason: `${recent.length} errors within ${cfg.window_seconds} s (limit ${cfg.errors}); policies stop intervening until ${new Date(until).toISOString()}. Last: ${f.last_error ?? 'unknown'}`,
        alert: { title: 'Session is in an error loop', severity: Severity.CRITICAL },
        blockUntil: until,
      },
    };
  },
};

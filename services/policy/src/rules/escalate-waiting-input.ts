import { Severity } from '@hal/protocol';
import { type SessionRule, secondsSince } from './rule.ts';

export interface WaitingState {
  alerted_for: number | null;
}

export const escalateWaitingInputRule: SessionRule<WaitingState> = {
  name: 'escalate_waiting_input',
  events: [],
  onTick: true,
  decide(state, { now, facts: f, policies }) {
    const cfg = policies.escalate_waiting_input;
    if (f.waiting_since === null || state?.alerted_for === f.waiting_since) return null;
    if (now - f.waiting_since < cfg.after_seconds * 1000) return null;
    return {
      state: { alerted_for: f.waiting_since },
      effect: {
        decision: 'acted',
        reason: `waiting for input for ${secondsSince(now, f.waiting_since)} s on host ${f.node} (${f.pending.length} pending)`,
        alert: { title: 'Session waiting for input', severity: Severity.WARNING },
      },
    };
  },
};

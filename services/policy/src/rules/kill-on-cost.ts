import { EventType, Severity } from '@hal/protocol';
import { isSessionOver } from '../facts.ts';
import type { SessionRule } from './rule.ts';

export interface CostState {
  /** Why the session is over budget, once it is (its own cost, or a budget event). */
  over: string | null;
  warned_at: number | null;
  stopped_at: number | null;
}

/** A budget event names a session, or a project (every session of it), or the fleet (all). */
export function budgetConcerns(
  event: { session: string | null; project: string },
  f: { session: string; project: string },
) {
  if (event.session !== null) return event.session === f.session;
  return event.project === '' || event.project === f.project;
}

export const killOnCostRule: SessionRule<CostState> = {
  name: 'kill_on_cost',
  events: [EventType.MESSAGE_COMPLETED, EventType.COST_BUDGET_EXCEEDED],
  onTick: true,
  decide(state, { now, facts: f, policies, event }) {
    const cfg = policies.kill_on_cost;
    if (state?.stopped_at != null || isSessionOver(f) || f.stopped_by !== null) return null;
    let over = state?.over ?? null;
    if (over === null && cfg.cost_threshold_usd !== undefined && f.cost_usd >= cfg.cost_threshold_usd) {
      over = `session cost $${f.cost_usd.toFixed(2)} reached the threshold $${cfg.cost_threshold_usd.toFixed(2)}`;
    }
    if (over === null && event?.type === EventType.COST_BUDGET_EXCEEDED && budgetConcerns(event, f)) {
      const budget = typeof event.data.budget === 'string' ? ` "${event.data.budget}"` : '';
      over = `cost budget${budget} exceeded`;
    }
    if (over === null) return null;
    if (state?.warned_at == null) {
      return {
        state: { over, warned_at: now, stopped_at: null },
        effect: {
          decision: 'acted',
          reason: `${over}; the session will be ${cfg.action === 'kill' ? 'aborted' : 'paused'} in ${cfg.cooldown_seconds} s`,
          alert: { title: 'Session over budget', severity: Severity.WARNING },
        },
        again: cfg.cooldown_seconds === 0,
      };
    }
    if (now - state.warned_at < cfg.cooldown_seconds * 1000) return null;
    const stopped = { ...state, stopped_at: now };
    return {
      state: stopped,
      effect: {
        decision: 'acted',
        reason: `${over}; ${cfg.action === 'kill' ? 'aborting' : 'pausing'} the session`,
        command: { type: 'kill', session: f.session },
        alert: {
          title: cfg.action === 'kill' ? 'Session aborted: over budget' : 'Session paused: over budget',
          severity: Severity.CRITICAL,
        },
        // `pause` aborts the current work but leaves the session resumable by people; either way
        // no policy resumes it (it would spend again).
        retire: cfg.action === 'kill' ? 'kill_on_cost' : 'kill_on_cost (pause)',
      },
      failState: { ...stopped, stopped_at: null, warned_at: now },
    };
  },
};

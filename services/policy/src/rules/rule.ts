import type { PoliciesConfig } from '@hal/config';
import type { Command, EventRecord, Severity } from '@hal/protocol';
import type { NodeFacts, SessionFacts } from '../facts.ts';

/** What a rule wants done after its state was claimed. */
export interface Effect {
  /** `acted` for a command or an alert; the engine turns it into `dry_run` when the policy is. */
  decision: 'acted' | 'skipped';
  reason: string;
  command?: Command;
  alert?: { title: string; severity: Severity };
  /** The command ends the session's supervision (restart, kill): mark it so no policy acts again. */
  retire?: string;
  /** Stop every policy's interventions on the session until then (ms). */
  blockUntil?: number;
}

/**
 * A rule's verdict on one (session or node, policy): the state to store — storing it is the
 * claim — and what to do once stored.
 */
export interface Verdict<S> {
  state: S;
  effect?: Effect;
  /**
   * Stored instead of `state` when the command fails. Data, decided with the verdict: a new
   * leader that settles a command its predecessor sent before dying stores the same.
   */
  failState?: S;
  /** Evaluate again right away (a warning whose grace period is zero is followed by the action). */
  again?: boolean;
}

export interface SessionContext {
  now: number;
  facts: SessionFacts;
  /** The session's node; undefined when no node event was seen (treated as online). */
  node: NodeFacts | undefined;
  policies: PoliciesConfig;
  /** Set when the evaluation was caused by an event rather than the tick. */
  event?: EventRecord;
  /** The session's last messages for a hand-off, gathered before the claim (the tracker's logs or our own). */
  lastMessages?: readonly string[];
}

export interface SessionRule<S> {
  name: keyof PoliciesConfig;
  /** Event types that trigger an evaluation; the tick evaluates when `onTick` is true. */
  events: readonly string[];
  onTick: boolean;
  decide(state: S | undefined, ctx: SessionContext): Verdict<S> | null;
  /** Folds a successful command's answer into the state (e.g. the session a restart made). */
  settle?(state: S, data: unknown): S;
}

export interface NodeRule<S> {
  name: keyof PoliciesConfig;
  decide(
    state: S | undefined,
    ctx: { now: number; node: NodeFacts; policies: PoliciesConfig },
  ): Verdict<S> | null;
}

export function secondsSince(now: number, since: number): number {
  return Math.round((now - since) / 1000);
}

/** Retry timestamps still inside the reset window. */
export function attemptsInWindow(
  attempts: readonly number[] | undefined,
  now: number,
  windowSeconds: number,
) {
  return (attempts ?? []).filter((t) => now - t < windowSeconds * 1000);
}

/** A session HAL must not touch: retired by a policy, or in an error loop. */
export function interventionBlocked(f: SessionFacts, now: number): string | null {
  if (f.stopped_by !== null) return `session was stopped by ${f.stopped_by}`;
  if (f.blocked_until !== null && now < f.blocked_until) return 'session is in an error loop';
  return null;
}

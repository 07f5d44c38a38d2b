import type { NatsConnection } from '@hal/bus';
import type { PoliciesConfig } from '@hal/config';
import type { Logger } from '@hal/observability';
import { type EventRecord, EventType } from '@hal/protocol';
import { type CommandOutcome, lastMessagesFromTracker } from './command-client.ts';
import type { DecisionLog } from './decision-log.ts';
import type { EnvOnConnect } from './env-on-connect.ts';
import {
  applyEvent,
  applyNodeEvent,
  applySnapshotSession,
  isReplay,
  isSessionOver,
  type NodeFacts,
  type SessionFacts,
  snapshotSessions,
  wasApplied,
} from './facts.ts';
import { createIntents, type Intent, intentKey } from './intents.ts';
import type { NotifyBatch } from './notifier.ts';
import type { Overrides } from './overrides.ts';
import { errorLoopRule } from './rules/error-loop.ts';
import { escalateWaitingInputRule } from './rules/escalate-waiting-input.ts';
import { budgetConcerns, killOnCostRule } from './rules/kill-on-cost.ts';
import { nodeOfflineRule } from './rules/node-offline.ts';
import { compactionReached, restartOnCompactionRule } from './rules/restart-on-compaction.ts';
import { resumeAfterLimitRule } from './rules/resume-after-limit.ts';
import { resumeOnIdleRule } from './rules/resume-on-idle.ts';
import type { Effect, SessionContext, SessionRule, Verdict } from './rules/rule.ts';
import type { StartDependents } from './start-dependents.ts';
import { idOfKey, KeyPrefix, keyOf, type StateStore } from './state-store.ts';

/** error_loop first: when it trips, the rules after it already see the session as blocked. */
const SESSION_RULES: ReadonlyArray<SessionRule<unknown>> = [
  errorLoopRule,
  killOnCostRule,
  restartOnCompactionRule,
  resumeAfterLimitRule,
  resumeOnIdleRule,
  escalateWaitingInputRule,
] as ReadonlyArray<SessionRule<unknown>>;

const RULES_BY_NAME: ReadonlyMap<string, SessionRule<unknown>> = new Map(
  SESSION_RULES.map((r) => [r.name, r]),
);

/** Event types some session rule reacts to (the others only change facts; ticks read them). */
const RULE_EVENTS: ReadonlySet<string> = new Set(SESSION_RULES.flatMap((r) => r.events));

/** Names of the rules that keep state per session (`ps.<rule>.<session>`). */
export const SESSION_RULE_NAMES: readonly string[] = SESSION_RULES.map((r) => r.name);

export interface EngineDeps {
  nc: NatsConnection;
  store: StateStore;
  decisions: DecisionLog;
  overrides: Overrides;
  policies: PoliciesConfig;
  log: Logger;
  now: () => number;
  commandTimeoutMs: number;
  envOnConnect?: EnvOnConnect;
  startDependents?: StartDependents;
}

export interface Engine {
  /**
   * True when the facts already hold this event: a resend past the duplicate window (same id), or
   * stream message `streamSeq` handled before (a replay from the ack floor after a change of leader).
   */
  isRepeat(event: EventRecord, streamSeq: number): Promise<boolean>;
  /** `streamSeq`: the event's HAL_EVENTS seq, recorded with the facts it changes. */
  onEvent(event: EventRecord, streamSeq: number): Promise<void>;
  /**
   * Events of one session, in stream order: each not seen before is told to `notify` first and
   * then applied, as onEvent would, but the facts are written once for the run of events that
   * trigger no rule — before a rule reads them, and at the end.
   */
  onSessionEvents(
    batch: ReadonlyArray<{ event: EventRecord; seq: number }>,
    notify: NotifyBatch,
  ): Promise<void>;
  tick(): Promise<void>;
  /**
   * Settles every command a leader decided but did not see answered (it died in between): sent
   * again under its idempotency key, so the agent runs it at most once, and recorded once.
   */
  recoverIntents(): Promise<void>;
}

export function createEngine(deps: EngineDeps): Engine {
  const { store, policies, log } = deps;
  const intents = createIntents({ ...deps, onOutcome: (i, o) => foldOutcome(i, o) });
  const sessKey = (s: string) => keyOf(KeyPrefix.SESSION, s);
  const nodeKey = (n: string) => keyOf(KeyPrefix.NODE, n);

  async function updateFacts(
    session: string,
    fn: (cur: SessionFacts | undefined) => SessionFacts | undefined,
  ) {
    return store.mutate<SessionFacts, SessionFacts | undefined>(sessKey(session), (cur) => {
      const next = fn(cur);
      return next === undefined ? { result: cur } : { value: next, result: next };
    });
  }

  async function execute(
    rule: { name: keyof PoliciesConfig },
    psKey: string,
    target: { node: string; project: string; session: string | null },
    verdict: Verdict<unknown>,
    effect: Effect,
  ): Promise<void> {
    const name = rule.name;
    const dry = deps.overrides.isDryRun(name);
    const base = { policy: name, ...(effect.command ? { command: effect.command } : {}) };
    if (dry) {
      const what = effect.command
        ? `${effect.command.type} the session`
        : `alert "${effect.alert?.title ?? ''}"`;
      await deps.decisions.record(target, {
        ...base,
        decision: 'dry_run',
        reason: `would have: ${effect.decision === 'skipped' ? 'skipped' : what}: ${effect.reason}`,
      });
      return;
    }
    const alert = effect.alert ? { severity: effect.alert.severity, alert: effect.alert.title } : {};
    const blockUntil = effect.blockUntil;
    if (blockUntil !== undefined && target.session !== null) {
      await updateFacts(target.session, (f) => (f ? { ...f, blocked_until: blockUntil } : undefined));
    }
    if (!effect.command) {
      await deps.decisions.record(target, {
        ...base,
        ...alert,
        decision: effect.decision,
        reason: effect.reason,
      });
      return;
    }
    if (effect.retire && target.session !== null) {
      await updateFacts(target.session, (f) => (f ? { ...f, stopped_by: effect.retire ?? null } : undefined));
    }
    // Kept from before the send until recorded: a leader that dies in between leaves it to the next.
    await intents.carry(intentKey(name, target.session ?? target.node), {
      policy: name,
      target,
      command: effect.command,
      reason: effect.reason,
      alert: effect.alert ?? null,
      fold: {
        ps_key: psKey,
        ...(verdict.failState === undefined ? {} : { fail_state: verdict.failState }),
        ...(effect.retire === undefined ? {} : { retire: true }),
      },
    });
  }

  /** A rule's state after its command: folded on success, `failState` on failure; a retire undone. */
  async function foldOutcome(intent: Intent, outcome: CommandOutcome): Promise<void> {
    const fold = intent.fold;
    if (fold === undefined) return;
    const settleOk = RULES_BY_NAME.get(intent.policy)?.settle;
    if (outcome.ok && settleOk) {
      await store.mutate<unknown, void>(fold.ps_key, (cur) => ({
        value: settleOk(cur, outcome.data),
        result: undefined,
      }));
    } else if (!outcome.ok && fold.fail_state !== undefined) {
      const failed = fold.fail_state;
      await store.mutate<unknown, void>(fold.ps_key, () => ({ value: failed, result: undefined }));
    }
    const session = intent.target.session;
    if (!outcome.ok && fold.retire && session !== null) {
      await updateFacts(session, (f) => (f ? { ...f, stopped_by: null } : undefined));
    }
  }

  async function evaluate(rule: SessionRule<unknown>, ctx: SessionContext): Promise<void> {
    if (!deps.overrides.isEnabled(rule.name)) return;
    const psKey = keyOf(KeyPrefix.POLICY_STATE, rule.name, ctx.facts.session);
    const target = { node: ctx.facts.node, project: ctx.facts.project, session: ctx.facts.session };
    // `again` lets a warning with no grace period be followed by its action in the same pass.
    for (let round = 0; round < 3; round++) {
      const verdict = await store.mutate<unknown, Verdict<unknown> | null>(psKey, (cur) => {
        const v = rule.decide(cur, { ...ctx, now: deps.now() });
        return v === null ? { result: null } : { value: v.state, result: v };
      });
      if (verdict?.effect === undefined) return;
      await execute(rule, psKey, target, verdict, verdict.effect);
      if (!verdict.again) return;
    }
  }

  async function contextFor(facts: SessionFacts, event?: EventRecord): Promise<SessionContext> {
    const node = (await store.get<NodeFacts>(nodeKey(facts.node)))?.value;
    return { now: deps.now(), facts, node, policies, ...(event ? { event } : {}) };
  }

  /** Hand-off messages are gathered only when a restart is about to be decided (it asks the tracker). */
  async function withHandoff(ctx: SessionContext): Promise<SessionContext> {
    const cfg = policies.restart_on_compaction;
    if (!deps.overrides.isEnabled('restart_on_compaction') || compactionReached(ctx.facts, cfg) === null)
      return ctx;
    const state = await store.get<{ handled_at: number | null }>(
      keyOf(KeyPrefix.POLICY_STATE, 'restart_on_compaction', ctx.facts.session),
    );
    if (state?.value.handled_at != null) return ctx;
    const last = (await lastMessagesFromTracker(deps.nc, ctx.facts.session, 4)) ?? ctx.facts.last_texts;
    return { ...ctx, lastMessages: last };
  }

  async function evaluateSession(facts: SessionFacts, event?: EventRecord): Promise<void> {
    let ctx = await contextFor(facts, event);
    for (const rule of SESSION_RULES) {
      const triggered = event === undefined ? rule.onTick : rule.events.includes(event.type);
      if (!triggered) continue;
      if (rule.name === 'restart_on_compaction') ctx = await withHandoff(ctx);
      // Re-read between rules: an earlier rule may have blocked or retired the session.
      const fresh = (await store.get<SessionFacts>(sessKey(facts.session)))?.value ?? ctx.facts;
      await evaluate(rule, { ...ctx, facts: fresh });
    }
  }

  async function onBudgetExceeded(event: EventRecord): Promise<void> {
    for (const key of await store.keys(KeyPrefix.SESSION)) {
      const facts = (await store.get<SessionFacts>(key))?.value;
      if (!facts || isSessionOver(facts) || !budgetConcerns(event, facts)) continue;
      await evaluate(killOnCostRule as SessionRule<unknown>, await contextFor(facts, event));
    }
  }

  async function onEvent(event: EventRecord, streamSeq: number): Promise<void> {
    // Our own decisions come back through the stream: reacting to them could loop.
    if (event.type === EventType.POLICY_ACTION) return;
    if (event.type === EventType.NODE_ONLINE || event.type === EventType.NODE_OFFLINE) {
      let replay = false;
      await store.mutate<NodeFacts, void>(nodeKey(event.node), (cur) => {
        replay = isReplay(cur, streamSeq);
        const next = replay ? undefined : applyNodeEvent(cur, event);
        return next === undefined
          ? { result: undefined }
          : { value: { ...next, seq: streamSeq }, result: undefined };
      });
      if (event.type === EventType.NODE_ONLINE && !replay) deps.envOnConnect?.onNodeOnline(event);
      return;
    }
    if (event.type === EventType.NODE_SNAPSHOT) {
      for (const snap of snapshotSessions(event)) {
        await updateFacts(snap.session, (cur) => {
          const next = isReplay(cur, streamSeq) ? undefined : applySnapshotSession(cur, event, snap);
          return next === undefined ? undefined : { ...next, seq: streamSeq };
        });
      }
      return;
    }
    if (event.type === EventType.COST_BUDGET_EXCEEDED && event.session === null) {
      await onBudgetExceeded(event);
      return;
    }
    if (event.type === EventType.ENV_MILESTONE) {
      await deps.startDependents?.onMilestone(event);
      return;
    }
    if (event.session === null) return;
    let repeat = false;
    const facts = await updateFacts(event.session, (cur) => {
      // Decided inside the compare-and-set: two instances handed the original and the resend
      // cannot both apply it.
      repeat = wasApplied(cur, event) || isReplay(cur, streamSeq);
      const next = repeat ? undefined : applyEvent(cur, event);
      return next === undefined ? undefined : { ...next, seq: streamSeq };
    });
    if (facts === undefined || repeat) {
      if (repeat) log.debug({ event: event.id, type: event.type }, 'repeated event skipped');
      return;
    }
    await evaluateSession(facts, event);
  }

  /**
   * Applies `events` (one session's, in order) to the stored facts in one compare-and-set: each
   * skipped when the facts already hold it, as onEvent's updateFacts would — the same result as
   * one write per event, re-decided on the stored facts if another writer changed them.
   */
  async function applyAll(session: string, events: ReadonlyArray<{ event: EventRecord; seq: number }>) {
    return updateFacts(session, (cur) => {
      let f = cur;
      let changed = false;
      for (const { event, seq } of events) {
        if (wasApplied(f, event) || isReplay(f, seq)) continue;
        const next = applyEvent(f, event);
        if (next === undefined) continue;
        f = { ...next, seq };
        changed = true;
      }
      return changed ? f : undefined;
    });
  }

  async function onSessionEvents(
    batch: ReadonlyArray<{ event: EventRecord; seq: number }>,
    notify: NotifyBatch,
  ): Promise<void> {
    const session = batch[0]?.event.session;
    if (session == null) return;
    // What the facts will be once the events so far are applied: tells a repeat from a new event.
    let facts = (await store.get<SessionFacts>(sessKey(session)))?.value;
    let unwritten: Array<{ event: EventRecord; seq: number }> = [];
    for (const item of batch) {
      const { event, seq } = item;
      if (wasApplied(facts, event) || isReplay(facts, seq)) {
        log.debug({ event: event.id, type: event.type }, 'repeated event skipped');
        continue;
      }
      // Notify first: people hear about an error even if a policy then fails on it.
      await notify.onEvent(event);
      // Our own decisions come back through the stream: reacting to them could loop.
      if (event.type === EventType.POLICY_ACTION) continue;
      const next = applyEvent(facts, event);
      if (next !== undefined) {
        facts = { ...next, seq };
        unwritten.push(item);
      }
      if (!RULE_EVENTS.has(event.type)) continue;
      // Told before a rule acts on it, as one at a time would be.
      await notify.flush();
      // A rule reads the facts from the store, and may change them: written first, read after.
      const stored = unwritten.length > 0 ? await applyAll(session, unwritten) : facts;
      unwritten = [];
      if (stored === undefined) continue;
      await evaluateSession(stored, event);
      facts = (await store.get<SessionFacts>(sessKey(session)))?.value;
    }
    await notify.flush();
    if (unwritten.length > 0) await applyAll(session, unwritten);
  }

  async function isRepeat(event: EventRecord, streamSeq: number): Promise<boolean> {
    if (event.type === EventType.NODE_ONLINE || event.type === EventType.NODE_OFFLINE) {
      return isReplay((await store.get<NodeFacts>(nodeKey(event.node)))?.value, streamSeq);
    }
    if (event.session === null) return false;
    const facts = (await store.get<SessionFacts>(sessKey(event.session)))?.value;
    return wasApplied(facts, event) || isReplay(facts, streamSeq);
  }

  async function tick(): Promise<void> {
    if (deps.overrides.isEnabled('node_offline')) {
      for (const key of await store.keys(KeyPrefix.NODE)) {
        const node = (await store.get<NodeFacts>(key))?.value;
        if (!node || node.online) continue;
        const psKey = keyOf(KeyPrefix.POLICY_STATE, nodeOfflineRule.name, idOfKey(key));
        const verdict = await store.mutate<unknown, Verdict<unknown> | null>(psKey, (cur) => {
          const v = nodeOfflineRule.decide(cur as never, { now: deps.now(), node, policies });
          return v === null ? { result: null } : { value: v.state, result: v as Verdict<unknown> };
        });
        if (verdict?.effect) {
          await execute(
            nodeOfflineRule,
            psKey,
            { node: node.node, project: '', session: null },
            verdict,
            verdict.effect,
          );
        }
      }
    }
    for (const key of await store.keys(KeyPrefix.SESSION)) {
      const facts = (await store.get<SessionFacts>(key))?.value;
      if (!facts || isSessionOver(facts)) continue;
      try {
        await evaluateSession(facts);
      } catch (err) {
        log.error({ err, session: facts.session }, 'policy evaluation failed');
      }
    }
  }

  return { isRepeat, onEvent, onSessionEvents, tick, recoverIntents: () => intents.recover() };
}

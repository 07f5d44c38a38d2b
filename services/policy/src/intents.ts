import type { NatsConnection } from '@hal/bus';
import type { Logger } from '@hal/observability';
import type { Command, Severity } from '@hal/protocol';
import { type CommandOutcome, sendCommand } from './command-client.ts';
import type { DecisionLog } from './decision-log.ts';
import { KeyPrefix, keyOf, type StateStore } from './state-store.ts';

/**
 * A command a policy decided, kept in HAL_POLICY (`pi.<policy>.<target>`) from before it is sent
 * until its outcome is recorded. A leader that dies in between leaves it for the next leader,
 * which sends it again under the same idempotency key — the agent answers a repeat from its
 * command memory instead of running it twice — and records it under the same id, so the
 * `policy.action` event and audit record are stored once.
 */
export interface Intent {
  id: string;
  policy: string;
  target: { node: string; project: string; session: string | null };
  command: Command;
  /** Recorded when the command succeeds; when it fails, `fail_reason` (or this) and the error code. */
  reason: string;
  fail_reason?: string;
  alert: { title: string; severity: Severity } | null;
  /** The policy's own bookkeeping of the outcome (a rule's state key, its state if the command fails, …). */
  fold?: { ps_key: string; fail_state?: unknown; retire?: boolean };
}

export interface Intents {
  /** Stores the intent, sends its command and records the outcome; `id` is made here. */
  carry(key: string, intent: Omit<Intent, 'id'>): Promise<void>;
  /** Settles every intent left by a leader that stopped before recording it. */
  recover(): Promise<void>;
}

export const intentKey = (policy: string, ...ids: string[]) => keyOf(KeyPrefix.INTENT, policy, ...ids);

export function createIntents(deps: {
  nc: NatsConnection;
  store: StateStore;
  decisions: DecisionLog;
  log: Logger;
  commandTimeoutMs: number;
  /** Folds the outcome into the policy's state before it is recorded. */
  onOutcome?: (intent: Intent, outcome: CommandOutcome) => Promise<void>;
}): Intents {
  const { store, log } = deps;

  async function settle(key: string, intent: Intent): Promise<void> {
    const { target } = intent;
    const outcome = await sendCommand(
      deps.nc,
      target.node,
      intent.command,
      intent.policy,
      deps.commandTimeoutMs,
      `policy:${intent.id}`,
    );
    await deps.onOutcome?.(intent, outcome);
    await deps.decisions.record(
      target,
      {
        policy: intent.policy,
        command: intent.command,
        ...(intent.alert ? { severity: intent.alert.severity, alert: intent.alert.title } : {}),
        decision: outcome.ok ? 'acted' : 'failed',
        reason: outcome.ok
          ? intent.reason
          : `${intent.fail_reason ?? intent.reason}; the command failed: ${outcome.code}`,
        result: outcome.ok
          ? { ok: true, data: outcome.data }
          : { ok: false, code: outcome.code, message: outcome.message },
      },
      intent.id,
    );
    await store.delete(key);
  }

  return {
    async carry(key, draft) {
      const intent: Intent = { id: crypto.randomUUID(), ...draft };
      await store.mutate<Intent, void>(key, () => ({ value: intent, result: undefined }));
      await settle(key, intent);
    },
    async recover() {
      const keys = await store.keys(KeyPrefix.INTENT);
      await Promise.all(
        keys.map(async (key) => {
          const intent = (await store.get<Intent>(key))?.value;
          if (intent === undefined) return;
          log.info(
            { policy: intent.policy, session: intent.target.session, node: intent.target.node },
            'settling a command decided before the previous leader stopped',
          );
          await settle(key, intent).catch((err: unknown) =>
            log.error({ err, policy: intent.policy }, 'policy command not settled'),
          );
        }),
      );
    },
  };
}

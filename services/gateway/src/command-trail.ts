import type { JetStreamClient } from '@hal/bus';
import type { Clock, Logger } from '@hal/observability';
import type { CommandRequest, ErrorCode } from '@hal/protocol';
import { z } from 'zod';
import { commandExecutedEvent, publishSystemEvent } from './system-events.ts';

export type CommandOutcome = { ok: true; data: unknown } | { ok: false; code: ErrorCode };

/** What an agent's reply may tell about where the command ran (start, restart, status carry it). */
const replyPlaceSchema = z.object({ project: z.string().min(1), session: z.string().min(1).optional() });

export interface CommandTrail {
  /**
   * Publishes `command.executed` for a finished command once the current reply has gone out.
   * Never throws: a lost trace is logged, and the command's result stands.
   */
  record(node: string, commandId: string, request: CommandRequest, outcome: CommandOutcome, ms: number): void;
  /** Waits for the publishes in progress (on stop, while NATS is still ours). */
  flush(): Promise<void>;
}

export function createCommandTrail(deps: { js: JetStreamClient; log: Logger; clock: Clock }): CommandTrail {
  const pending = new Set<Promise<void>>();

  const publish = async (
    node: string,
    commandId: string,
    request: CommandRequest,
    outcome: CommandOutcome,
    ms: number,
  ): Promise<void> => {
    const { command, actor } = request;
    const target = 'session' in command ? (command.session ?? null) : null;
    const place = outcome.ok ? replyPlaceSchema.safeParse(outcome.data) : undefined;
    const project = place?.success ? place.data.project : '';
    const replied = place?.success ? place.data.session : undefined;
    const session = target ?? replied ?? null;
    const event = commandExecutedEvent(
      node,
      { project, session },
      {
        command_type: command.type,
        command_id: commandId,
        actor: { kind: actor.kind, id: actor.id },
        session: target,
        ok: outcome.ok,
        ...(replied !== undefined && replied !== target ? { result_session: replied } : {}),
        ...(outcome.ok ? {} : { code: outcome.code }),
        duration_ms: Math.round(ms),
      },
      new Date(deps.clock.now()),
    );
    // Few attempts: the trace is worth a short retry, not a long stop() behind a JetStream outage.
    await publishSystemEvent(deps.js, event, { attempts: 3 });
  };

  return {
    record(node, commandId, request, outcome, ms) {
      // serve() answers in the continuation of the handler's promise (a microtask); setImmediate
      // runs after it, so the JetStream publish never delays the reply.
      const p: Promise<void> = new Promise<void>((resolve) => setImmediate(resolve))
        .then(() => publish(node, commandId, request, outcome, ms))
        .catch((err: unknown) =>
          deps.log.warn({ err, node, command_id: commandId }, 'command.executed not published'),
        )
        .finally(() => pending.delete(p));
      pending.add(p);
    },
    async flush() {
      await Promise.allSettled([...pending]);
    },
  };
}

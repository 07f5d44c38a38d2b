import type { JetStreamClient, SessionOwners } from '@hal/bus';
import type { Clock, Logger } from '@hal/observability';
import { type CommandRequest, type ErrorCode, idSchema, projectNameSchema } from '@hal/protocol';
import { z } from 'zod';
import { commandExecutedEvent, publishSystemEvent } from './system-events.ts';

export type CommandOutcome = { ok: true; data: unknown } | { ok: false; code: ErrorCode };

/**
 * What an agent's reply may tell about where the command ran (start, restart, status carry it).
 * Bounded like every id: a reply naming a project too long for a subject is simply not filed
 * under it (an over-long subject would make nats-server drop the gateway's connection).
 */
const replyPlaceSchema = z.object({
  project: projectNameSchema.pipe(z.string().min(1)),
  session: idSchema.optional(),
});

export interface CommandTrail {
  /**
   * Publishes `command.executed` for a finished command once the current reply has gone out.
   * Never throws: a lost trace is logged, and the command's result stands.
   */
  record(node: string, commandId: string, request: CommandRequest, outcome: CommandOutcome, ms: number): void;
  /** Waits for the publishes in progress (on stop, while NATS is still ours). */
  flush(): Promise<void>;
}

export function createCommandTrail(deps: {
  js: JetStreamClient;
  log: Logger;
  clock: Clock;
  owners: () => SessionOwners | undefined;
}): CommandTrail {
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
    let project = place?.success ? place.data.project : '';
    const replied = place?.success ? place.data.session : undefined;
    const session = target ?? replied ?? null;
    // The trace is filed under a session only when the session is this node's: an agent whose
    // reply names another node's session must not move it (the tracker files by session).
    if (session !== null && project !== '' && !(await ownedBy(session, node))) project = '';
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

  /**
   * The agent's successful reply places the command in a session: that is the agent reporting
   * the session, so it is claimed for the node like an event would; another node's is refused.
   */
  const ownedBy = async (session: string, node: string): Promise<boolean> => {
    const owners = deps.owners();
    if (owners === undefined) return false;
    try {
      return (await owners.claim(session, node)) === node;
    } catch (err) {
      // Owners unreachable: the trace still goes out, filed under no session.
      deps.log.warn({ err, session }, 'session owner unknown; command trace not filed under it');
      return false;
    }
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

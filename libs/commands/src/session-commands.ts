import { type NatsConnection, request } from '@hal/bus';
import {
  type Command,
  commandRequestSchema,
  ErrorCode,
  HalError,
  subjects,
  TrackerQuery,
} from '@hal/protocol';
import { z } from 'zod';
import { actorOf, type Principal } from './roles.ts';
import { createStartKeys } from './start-keys.ts';
import type { TrackerClient } from './tracker-client.ts';

/** The agent gets this long to answer; the bus request waits a little longer so the agent's own timeout wins. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const BUS_GRACE_MS = 1_000;

export interface SessionCommands {
  /** The node a session lives on (SESSION_NOT_FOUND from the tracker when unknown). */
  nodeOfSession(session: string): Promise<string>;
  /** The node to start a session of `project` on: the given one if it can, else any online node that has it. */
  chooseNode(project: string, node?: string): Promise<string>;
  /**
   * Sends a command to the gateway holding `node` (`hal.cmd.<node>`) and returns the agent's result.
   * With `idempotencyKey` the agent runs it at most once: a repeat gets the recorded outcome.
   */
  send(
    node: string,
    command: Command,
    principal: Principal,
    timeoutMs?: number,
    idempotencyKey?: string,
  ): Promise<unknown>;
  /** The node for a `start`: with a key and no node given, the same one for every retry of it. */
  startNode(principal: Principal, project: string, node?: string, idempotencyKey?: string): Promise<string>;
}

export function createSessionCommands(deps: { nc: NatsConnection; tracker: TrackerClient }): SessionCommands {
  const { nc, tracker } = deps;
  const startKeys = createStartKeys(nc);

  async function chooseNode(project: string, node?: string): Promise<string> {
    if (node !== undefined) {
      const view = await tracker.query(TrackerQuery.NODES_GET, { node });
      if (!view.projects.some((p) => p.name === project)) {
        throw new HalError(ErrorCode.PROJECT_NOT_FOUND, `node "${node}" has no project "${project}"`);
      }
      if (view.status !== 'online') throw new HalError(ErrorCode.NODE_OFFLINE, `node ${node} is offline`);
      return node;
    }
    const { nodes } = await tracker.query(TrackerQuery.NODES_LIST, {});
    const withProject = nodes.filter((n) => n.projects.some((p) => p.name === project));
    if (withProject.length === 0) {
      throw new HalError(ErrorCode.PROJECT_NOT_FOUND, `no node has project "${project}"`);
    }
    // The least busy online node, so repeated starts spread over the fleet.
    const online = withProject.filter((n) => n.status === 'online').sort((a, b) => a.sessions - b.sessions);
    const chosen = online[0];
    if (!chosen) {
      const names = withProject.map((n) => n.node).join(', ');
      throw new HalError(
        ErrorCode.NODE_OFFLINE,
        `every node with project "${project}" is offline (${names})`,
      );
    }
    return chosen.node;
  }

  return {
    async nodeOfSession(session) {
      const view = await tracker.query(TrackerQuery.SESSIONS_GET, { session });
      return view.node;
    },

    chooseNode,

    startNode(principal, project, node, idempotencyKey) {
      if (node !== undefined || idempotencyKey === undefined) return chooseNode(project, node);
      return startKeys.nodeFor(principal.name, idempotencyKey, () => chooseNode(project));
    },

    async send(node, command, principal, timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS, idempotencyKey) {
      const body = commandRequestSchema.parse({
        command,
        actor: actorOf(principal),
        timeout_ms: timeoutMs,
        ...(idempotencyKey === undefined ? {} : { idempotency_key: idempotencyKey }),
      });
      try {
        return await request(nc, subjects.command(node), body, z.unknown(), {
          timeoutMs: timeoutMs + BUS_GRACE_MS,
        });
      } catch (err) {
        if (err instanceof HalError && err.code === ErrorCode.NO_RESPONDERS) {
          throw new HalError(ErrorCode.NODE_OFFLINE, `node ${node} is offline`, { cause: err });
        }
        if (err instanceof HalError && err.code === ErrorCode.TIMEOUT) {
          throw new HalError(
            ErrorCode.TIMEOUT,
            `node ${node} did not answer the ${command.type} command in ${timeoutMs} ms`,
            { cause: err },
          );
        }
        throw err;
      }
    },
  };
}

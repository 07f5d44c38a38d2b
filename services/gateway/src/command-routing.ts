import { type NatsConnection, request, type Server, serve } from '@hal/bus';
import type { HalMetrics, Logger } from '@hal/observability';
import {
  type CommandRequest,
  commandRequestSchema,
  ErrorCode,
  HalError,
  nodeOfSubject,
  QueueGroup,
  subjects,
  toHalError,
} from '@hal/protocol';
import { z } from 'zod';
import type { CommandOutcome, CommandTrail } from './command-trail.ts';
import type { NodeClaims } from './node-claims.ts';
import type { HeldConnection, Holder, NodeInfo } from './node-registry.ts';

/** A relayed command gets the agent's time plus this, so the holder's own TIMEOUT answer wins. */
const RELAY_GRACE_MS = 1_500;

export interface CommandRoutingDeps {
  nc: NatsConnection;
  gatewayId: string;
  log: Logger;
  metrics: HalMetrics;
  trail: CommandTrail;
  claims: NodeClaims;
  /** The connection holding `node` on this gateway, if any. */
  held(node: string): HeldConnection | undefined;
}

/**
 * The gateway's three subscriptions for commands and holder questions, whatever the number of
 * nodes it holds (two per node cost ~4.2 KiB of each connection's memory, #13):
 * - `hal.cmd.*` in the `hal-gateway` queue group: one gateway takes each command; it runs it when
 *   it holds the node, passes it on to the gateway that claimed the node last when another did
 *   (`hal.cmd.<node>.<gateway>`), and answers NODE_OFFLINE at once when none holds it, or when the
 *   claimant is gone (NATS "no responders" on the pass).
 * - `hal.cmd.*.<this gateway>`: commands passed on to this one; run here or NODE_OFFLINE.
 * - `hal.gw.holder.*.<this gateway>`: which agent instance holds a node here.
 * The subject users send on (`hal.cmd.<node>`) and its answer are unchanged.
 */
export function serveCommands(d: CommandRoutingDeps): Server[] {
  const { nc, gatewayId, log } = d;
  const offline = (node: string): HalError =>
    new HalError(ErrorCode.NODE_OFFLINE, `node "${node}" is not connected`);

  const runHere = async (node: string, request: CommandRequest): Promise<unknown> => {
    const started = performance.now();
    const commandId = crypto.randomUUID();
    let outcome: CommandOutcome | undefined;
    try {
      const holder = d.held(node);
      if (holder === undefined) throw offline(node);
      // Every command reaches the agent with a key, so it runs there at most once.
      const keyed =
        request.idempotency_key === undefined ? { ...request, idempotency_key: commandId } : request;
      const reply = await holder.command(keyed, commandId);
      if (!reply.ok) throw HalError.fromBody(reply.error);
      outcome = { ok: true, data: reply.data };
      return reply.data;
    } catch (err) {
      outcome = { ok: false, code: toHalError(err).code };
      throw err;
    } finally {
      const ms = performance.now() - started;
      const status = outcome?.ok === false ? outcome.code : 'ok';
      d.metrics.commandsTotal.inc({ type: request.command.type, status });
      d.metrics.commandDuration.observe({ type: request.command.type }, ms / 1000);
      if (outcome !== undefined) d.trail.record(node, commandId, request, outcome, ms);
    }
  };

  const route = async (node: string, body: CommandRequest): Promise<unknown> => {
    if (d.held(node) !== undefined) return runHere(node, body);
    const claimant = await d.claims.claimant(node);
    if (claimant === undefined || claimant === gatewayId) throw offline(node);
    try {
      // The holder's answer, unwrapped here and wrapped again by serve(): the same reply.
      return await request(nc, subjects.commandAt(node, claimant), body, z.unknown(), {
        timeoutMs: body.timeout_ms + RELAY_GRACE_MS,
      });
    } catch (err) {
      // The claimant is gone (its subscriptions went with its connection): nobody holds the node.
      if (err instanceof HalError && err.code === ErrorCode.NO_RESPONDERS) throw offline(node);
      throw err;
    }
  };

  return [
    serve(nc, {
      subject: subjects.commandAll,
      queue: QueueGroup.GATEWAY,
      schema: commandRequestSchema,
      log,
      handler: (body, msg) => route(nodeOfSubject(msg.subject), body),
    }),
    serve(nc, {
      subject: subjects.commandAtGateway(gatewayId),
      schema: commandRequestSchema,
      log,
      handler: (body, msg) => runHere(nodeOfSubject(msg.subject), body),
    }),
    serve(nc, {
      subject: subjects.nodeHolderAtGateway(gatewayId),
      schema: z.unknown(),
      log,
      handler: async (_body, msg): Promise<Holder> => {
        const node = nodeOfSubject(msg.subject);
        const current = d.held(node)?.info();
        if (current === undefined)
          throw new HalError(ErrorCode.NODE_OFFLINE, `node "${node}" is not held here`);
        return holderOf(current);
      },
    }),
  ];
}

export function holderOf(info: NodeInfo): Holder {
  return {
    node: info.node,
    gateway: info.gateway,
    instance_id: info.instance_id,
    host: info.host,
    remote_address: info.remote_address,
  };
}

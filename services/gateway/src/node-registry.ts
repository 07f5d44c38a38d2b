import {
  jetstreamClient,
  type NatsConnection,
  request,
  type Server,
  type SessionOwners,
  type Subscription,
  serve,
} from '@hal/bus';
import { type Clock, type HalMetrics, type Logger, systemClock } from '@hal/observability';
import {
  type CommandRequest,
  commandRequestSchema,
  ErrorCode,
  HalError,
  type NodeClaim,
  nodeClaimSchema,
  type Reply,
  subjects,
  toHalError,
} from '@hal/protocol';
import { z } from 'zod';
import { type CommandOutcome, createCommandTrail } from './command-trail.ts';

/** What this gateway knows about a node it holds. */
export interface NodeInfo {
  node: string;
  gateway: string;
  connection: string;
  agent_version: string;
  projects: Array<{ name: string; directory: string }>;
  connected_at: string;
  last_heartbeat_at: string | null;
  remote_address: string | null;
  /** The agent's persistent instance id and host name (protocol 1.2); null from older agents. */
  instance_id: string | null;
  host: string | null;
  /** The node's clock minus the control plane's (ms), measured from its frames; null before any. */
  clock_skew_ms: number | null;
}

/** Who holds a node right now, as `hal.gw.holder.<node>` answers it. */
export const holderSchema = z.object({
  node: z.string(),
  gateway: z.string(),
  instance_id: z.string().nullable(),
  host: z.string().nullable(),
  remote_address: z.string().nullable(),
});
export type Holder = z.infer<typeof holderSchema>;

/** The side of an agent connection the registry needs. */
export interface HeldConnection {
  readonly node: string;
  readonly id: string;
  /** When this connection claimed the node (ms since epoch), to settle simultaneous claims. */
  readonly claimedAt: number;
  info(): NodeInfo;
  /**
   * Forwards a command to the agent under `commandId` (the id its command.executed event
   * carries); resolves with the agent's reply or rejects with a HalError.
   */
  command(request: CommandRequest, commandId: string): Promise<Reply<unknown>>;
  /** Another connection took the node: close without publishing node.offline. */
  replace(by: { gateway: string; connection: string }): void;
}

interface Hold {
  conn: HeldConnection;
  commands: Server;
  holder: Server;
}

export interface NodeRegistry {
  /** Takes the node for `conn`: replaces a local holder, answers `hal.cmd.<node>`, tells other gateways. */
  hold(conn: HeldConnection): void;
  /** Drops the hold if `conn` still has it; true when it did (so the caller publishes node.offline). */
  release(conn: HeldConnection): boolean;
  nodes(): NodeInfo[];
  /** The live holder of `node`, on this gateway or (asked over NATS) on another; undefined when none. */
  holderOf(node: string): Promise<Holder | undefined>;
  stop(): Promise<void>;
}

export function createNodeRegistry(deps: {
  nc: NatsConnection;
  gatewayId: string;
  log: Logger;
  metrics: HalMetrics;
  clock?: Clock;
  /** Session owners, once the gateway has opened them; a command trace names only its node's sessions. */
  owners?: () => SessionOwners | undefined;
}): NodeRegistry {
  const { nc, gatewayId, metrics } = deps;
  const log = deps.log.child({ component: 'node-registry' });
  const trail = createCommandTrail({
    js: jetstreamClient(nc),
    log,
    clock: deps.clock ?? systemClock,
    owners: deps.owners ?? (() => undefined),
  });
  const holds = new Map<string, Hold>();
  const stopping = new Set<Promise<void>>();

  const unhold = (node: string): void => {
    const hold = holds.get(node);
    if (hold === undefined) return;
    holds.delete(node);
    void hold.holder.stop().catch(() => undefined);
    // Draining lets a command already being answered finish; the holder's close rejects it.
    const p = hold.commands
      .stop()
      .catch((err: unknown) => log.warn({ err, node }, 'command subscription stop failed'));
    stopping.add(p);
    void p.finally(() => stopping.delete(p));
  };

  const answerCommand = async (node: string, request: CommandRequest): Promise<unknown> => {
    const started = performance.now();
    const commandId = crypto.randomUUID();
    let outcome: CommandOutcome | undefined;
    try {
      const holder = holds.get(node)?.conn;
      if (holder === undefined) throw new HalError(ErrorCode.NODE_OFFLINE, `node "${node}" is not connected`);
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
      metrics.commandsTotal.inc({ type: request.command.type, status });
      metrics.commandDuration.observe({ type: request.command.type }, ms / 1000);
      if (outcome !== undefined) trail.record(node, commandId, request, outcome, ms);
    }
  };

  const onClaim = (node: string, claim: NodeClaim): void => {
    // Our own claims (and a local replacement, already handled in hold()) never drop a hold.
    if (claim.gateway === gatewayId) return;
    const hold = holds.get(node);
    if (hold === undefined) return;
    const theirs = Date.parse(claim.time);
    const ours = hold.conn.claimedAt;
    // Latest claim wins; two claims in the same millisecond are settled by connection id.
    if (ours > theirs || (ours === theirs && hold.conn.id > claim.connection)) return;
    log.info({ node, gateway: claim.gateway, connection: claim.connection }, 'node moved to another gateway');
    const conn = hold.conn;
    unhold(node);
    conn.replace({ gateway: claim.gateway, connection: claim.connection });
  };

  // Every gateway's claims on one subscription (a claim is one message per agent connect), not
  // one per held node: a subscription costs ~1.4 KiB of heap, and a gateway holds thousands.
  const claims: Subscription = nc.subscribe(subjects.nodeClaimAll, {
    callback: (err, msg) => {
      if (err) return;
      try {
        const parsed = nodeClaimSchema.safeParse(safeJson(msg.data));
        // A claim names its node in the subject too; one that disagrees is not a claim.
        if (!parsed.success || msg.subject !== subjects.nodeClaim(parsed.data.node)) {
          log.warn({ subject: msg.subject }, 'ignored malformed node claim');
          return;
        }
        onClaim(parsed.data.node, parsed.data);
      } catch (e) {
        log.error({ err: e, subject: msg.subject }, 'node claim not handled');
      }
    },
  });

  return {
    hold(conn) {
      const { node } = conn;
      const previous = holds.get(node);
      if (previous !== undefined) {
        // Same gateway, new socket: keep the subscriptions, swap the holder.
        previous.conn.replace({ gateway: gatewayId, connection: conn.id });
        previous.conn = conn;
      } else {
        const commands = serve(nc, {
          subject: subjects.command(node),
          schema: commandRequestSchema,
          log,
          handler: (request) => answerCommand(node, request),
        });
        const holder = serve(nc, {
          subject: subjects.nodeHolder(node),
          schema: z.unknown(),
          log,
          handler: async (): Promise<Holder> => {
            const current = holds.get(node)?.conn.info();
            if (current === undefined)
              throw new HalError(ErrorCode.NODE_OFFLINE, `node "${node}" is not held here`);
            return holderOf(current);
          },
        });
        holds.set(node, { conn, commands, holder });
      }
      const claim: NodeClaim = {
        node,
        gateway: gatewayId,
        connection: conn.id,
        time: new Date(conn.claimedAt).toISOString(),
      };
      nc.publish(subjects.nodeClaim(node), JSON.stringify(claim));
    },
    release(conn) {
      const hold = holds.get(conn.node);
      if (hold === undefined || hold.conn !== conn) return false;
      unhold(conn.node);
      return true;
    },
    async holderOf(node) {
      const local = holds.get(node)?.conn.info();
      if (local !== undefined) return holderOf(local);
      try {
        return await request(nc, subjects.nodeHolder(node), {}, holderSchema, { timeoutMs: HOLDER_QUERY_MS });
      } catch {
        // No responders (nobody holds it), a timeout or a gateway going away: treat it as free.
        // The claim protocol still settles a race between two gateways.
        return undefined;
      }
    },
    nodes() {
      return [...holds.values()].map((h) => h.conn.info());
    },
    async stop() {
      claims.unsubscribe();
      for (const node of [...holds.keys()]) unhold(node);
      await Promise.allSettled([...stopping]);
      // After the command subscriptions drained: their last traces are queued by now.
      await trail.flush();
    },
  };
}

const HOLDER_QUERY_MS = 500;

function holderOf(info: NodeInfo): Holder {
  return {
    node: info.node,
    gateway: info.gateway,
    instance_id: info.instance_id,
    host: info.host,
    remote_address: info.remote_address,
  };
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

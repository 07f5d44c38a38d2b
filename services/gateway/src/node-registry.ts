import { jetstreamClient, type NatsConnection, request, type SessionOwners } from '@hal/bus';
import { type Clock, type HalMetrics, type Logger, systemClock } from '@hal/observability';
import { type CommandRequest, type NodeClaim, type Reply, subjects } from '@hal/protocol';
import { z } from 'zod';
import { holderOf, serveCommands } from './command-routing.ts';
import { createCommandTrail } from './command-trail.ts';
import { NodeClaims } from './node-claims.ts';

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

/** Who holds a node right now, as `hal.gw.holder.<node>.<gateway>` answers it. */
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

export interface NodeRegistry {
  /** Takes the node for `conn`: replaces a local holder, answers its commands, tells other gateways. */
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
  /** The connection holding each node here: all a held node costs the registry. */
  const holds = new Map<string, HeldConnection>();

  const publishClaim = (conn: HeldConnection): void => {
    const claim: NodeClaim = {
      node: conn.node,
      gateway: gatewayId,
      connection: conn.id,
      time: new Date(conn.claimedAt).toISOString(),
    };
    nc.publish(subjects.nodeClaim(conn.node), JSON.stringify(claim));
  };

  const onClaim = (claim: NodeClaim): void => {
    // Our own claims (and a local replacement, already handled in hold()) never drop a hold.
    if (claim.gateway === gatewayId) return;
    const { node } = claim;
    const conn = holds.get(node);
    if (conn === undefined) return;
    const theirs = Date.parse(claim.time);
    const ours = conn.claimedAt;
    // Latest claim wins; two claims in the same millisecond are settled by connection id.
    if (ours > theirs || (ours === theirs && conn.id > claim.connection)) return;
    log.info({ node, gateway: claim.gateway, connection: claim.connection }, 'node moved to another gateway');
    holds.delete(node);
    conn.replace({ gateway: claim.gateway, connection: claim.connection });
  };

  // Every gateway's claims on one subscription (a claim is one message per agent connect); a
  // gateway that starts asks for them again, and each held node here is claimed once more.
  const claims = new NodeClaims(nc, log, onClaim, () => {
    for (const conn of holds.values()) publishClaim(conn);
  });
  const servers = serveCommands({
    nc,
    gatewayId,
    log,
    metrics,
    trail,
    claims,
    held: (node) => holds.get(node),
  });

  return {
    hold(conn) {
      const previous = holds.get(conn.node);
      // Same gateway, new socket: swap the holder.
      if (previous !== undefined && previous !== conn) {
        previous.replace({ gateway: gatewayId, connection: conn.id });
      }
      holds.set(conn.node, conn);
      claims.note(conn.node, gatewayId);
      publishClaim(conn);
    },
    release(conn) {
      if (holds.get(conn.node) !== conn) return false;
      holds.delete(conn.node);
      return true;
    },
    async holderOf(node) {
      const local = holds.get(node)?.info();
      if (local !== undefined) return holderOf(local);
      const claimant = await claims.claimant(node);
      // Claimed by no gateway, or last by this one (which no longer holds it): free.
      if (claimant === undefined || claimant === gatewayId) return undefined;
      try {
        return await request(nc, subjects.nodeHolder(node, claimant), {}, holderSchema, {
          timeoutMs: HOLDER_QUERY_MS,
        });
      } catch {
        // Not held there any more, that gateway is gone (no responders), or a timeout: treat it
        // as free. The claim protocol still settles a race between two gateways.
        return undefined;
      }
    },
    nodes() {
      return [...holds.values()].map((conn) => conn.info());
    },
    async stop() {
      claims.stop();
      holds.clear();
      // Draining lets a command already being answered finish; the holder's close rejects it.
      const stopped = await Promise.allSettled(servers.map((s) => s.stop()));
      for (const r of stopped) {
        if (r.status === 'rejected') log.warn({ err: r.reason }, 'command subscription stop failed');
      }
      // After the command subscriptions drained: their last traces are queued by now.
      await trail.flush();
    },
  };
}

const HOLDER_QUERY_MS = 500;

import type { NatsConnection, Subscription } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { type NodeClaim, nodeClaimSchema, subjects } from '@hal/protocol';

/** How long a starting gateway waits for the others' claims before it calls an unclaimed node free. */
const SYNC_MS = 250;

/**
 * Which gateway claimed each node last, across every gateway: what the gateway's three shared
 * subscriptions route by (a command to the claimant, a holder question to it), instead of two
 * subscriptions per held node. Every gateway hears every claim on one subscription; a gateway that
 * starts asks the others to claim their nodes again, and until their answers had time to arrive
 * (`SYNC_MS`) an unknown node waits rather than being called free. The table keeps one entry per
 * node the cluster has seen (a node's name and an interned gateway id), not per connection.
 */
export class NodeClaims {
  readonly #claimedBy = new Map<string, string>();
  /** One copy of each gateway id, however many nodes name it. */
  readonly #gateways = new Map<string, string>();
  readonly #sub: Subscription;
  #synced: Promise<void> | undefined;

  constructor(
    nc: NatsConnection,
    log: Logger,
    /** A claim by another gateway (the registry drops its hold when that one is newer). */
    onClaim: (claim: NodeClaim) => void,
    /** Another gateway started: claim every node held here again. */
    onSync: () => void,
  ) {
    this.#sub = nc.subscribe(subjects.nodeClaimAll, {
      callback: (err, msg) => {
        if (err) return;
        try {
          if (msg.subject === subjects.nodeClaimSync) {
            onSync();
            return;
          }
          const parsed = nodeClaimSchema.safeParse(safeJson(msg.data));
          // A claim names its node in the subject too; one that disagrees is not a claim.
          if (!parsed.success || msg.subject !== subjects.nodeClaim(parsed.data.node)) {
            log.warn({ subject: msg.subject }, 'ignored malformed node claim');
            return;
          }
          this.note(parsed.data.node, parsed.data.gateway);
          onClaim(parsed.data);
        } catch (e) {
          log.error({ err: e, subject: msg.subject }, 'node claim not handled');
        }
      },
    });
    nc.publish(subjects.nodeClaimSync);
    const timer = new Promise<void>((resolve) => setTimeout(resolve, SYNC_MS).unref());
    this.#synced = timer.then(() => {
      this.#synced = undefined;
    });
  }

  /** Records `gateway` as the node's latest claimant. */
  note(node: string, gateway: string): void {
    let id = this.#gateways.get(gateway);
    if (id === undefined) {
      id = gateway;
      this.#gateways.set(id, id);
    }
    this.#claimedBy.set(node, id);
  }

  /** The gateway that claimed `node` last, once a starting gateway heard the others; undefined: none. */
  async claimant(node: string): Promise<string | undefined> {
    const known = this.#claimedBy.get(node);
    if (known !== undefined || this.#synced === undefined) return known;
    await this.#synced;
    return this.#claimedBy.get(node);
  }

  stop(): void {
    this.#sub.unsubscribe();
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    return undefined;
  }
}

import type { JetStreamClient, NatsConnection, SessionOwners } from '@hal/bus';
import type { Clock, HalMetrics, Logger } from '@hal/observability';
import type { AgentConnection } from './agent-connection.ts';
import type { GatewayConfig, GatewayLimits } from './gateway-config.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { PublishBudget } from './publish-budget.ts';

export interface IngestStats {
  /** Publishes sent to JetStream and not yet acked. */
  in_flight: number;
  /** Reading the socket is paused (above the in-flight limit). */
  paused: boolean;
  /** Bytes received but left unread because of the pause. */
  unread_bytes: number;
}

/**
 * What every connection of a gateway is given: one object per gateway, not per connection (its
 * own parts — socket, node, address, credential — are constructor arguments).
 */
export interface ConnectionShared {
  gatewayId: string;
  nc: NatsConnection;
  js: JetStreamClient;
  /** The gateway's logger; a connection's lines add its component, node and connection id. */
  log: Logger;
  metrics: HalMetrics;
  config: Pick<GatewayConfig, 'heartbeat_interval_sec' | 'heartbeat_timeout_count' | 'alerts'>;
  limits: GatewayLimits;
  budget: PublishBudget;
  registry: NodeRegistry;
  /** Which node each session belongs to; a node reporting another's session is refused. */
  owners: SessionOwners;
  clock: Clock;
  /** Last node.id_conflict alert per (node, instance), shared by the gateway's connections. */
  conflictAlerts: Map<string, number>;
  /** Nodes whose clock skew is past the threshold and was alerted, shared by the gateway's connections. */
  skewAlerted: Set<string>;
  /** `alerts.clock_skew_seconds` (30 when the config has no `alerts` section). */
  skewThresholdSec: number;
  /** Called once the socket is closed and node.offline (if due) is published. */
  onClosed: (conn: AgentConnection) => void;
}

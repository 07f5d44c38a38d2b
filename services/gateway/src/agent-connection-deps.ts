import type { JetStreamClient, NatsConnection, SessionOwners } from '@hal/bus';
import type { Clock, HalMetrics, Logger } from '@hal/observability';
import type { WebSocket } from 'ws';
import type { AgentConnection } from './agent-connection.ts';
import type { GatewayConfig, GatewayLimits } from './gateway-config.ts';
import type { NodeRegistry } from './node-registry.ts';
import type { PublishBudget } from './publish-budget.ts';
import type { AgentCredential } from './ws-auth.ts';

export interface IngestStats {
  /** Publishes sent to JetStream and not yet acked. */
  in_flight: number;
  /** Reading the socket is paused (above the in-flight limit). */
  paused: boolean;
  /** Bytes received but left unread because of the pause. */
  unread_bytes: number;
}

export interface AgentConnectionDeps {
  ws: WebSocket;
  /** The node the upgrade authenticated; hello must name the same one. */
  node: string;
  remoteAddress: string | null;
  gatewayId: string;
  nc: NatsConnection;
  js: JetStreamClient;
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
  /** How the upgrade authenticated: an enrolled node's projects come from its record, not hello. */
  credential: AgentCredential;
  /** Called once the socket is closed and node.offline (if due) is published. */
  onClosed: (conn: AgentConnection) => void;
}

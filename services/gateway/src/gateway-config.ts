/**
 * The slice of the supervisor config the WebSocket side reads. Structural, so the real
 * `SupervisorConfig` from @hal/config fits as is and tests can pass plain objects.
 */
export interface GatewayConfig {
  server: { host: string; port: number; auth_token: string };
  heartbeat_interval_sec: number;
  heartbeat_timeout_count: number;
  security: {
    tls: { enabled: boolean; cert_path?: string | undefined; key_path?: string | undefined };
    origin_allowlist: readonly string[];
    node_tokens: Readonly<Record<string, string>>;
    /** true: `server.auth_token` no longer opens agent sockets; every node needs its own token. */
    require_node_tokens?: boolean;
    /** API tokens are refused on the agent socket with a message saying so. */
    api_tokens?: ReadonlyArray<{ token: string }>;
  };
  /** `alerts.clock_skew_seconds`: a node's clock further off than this raises `node.clock_skew` (absent: 30). */
  alerts?: { clock_skew_seconds: number };
  /** `nats.replicas`: of the HAL_NODES KV bucket (absent: 1). */
  nats?: { replicas: number };
}

/** Flow-control knobs; the defaults suit production, tests and benches shrink them. */
export interface GatewayLimits {
  /** Publishes awaiting a JetStream ack per connection before its socket is paused. */
  maxInFlightPerConnection: number;
  /** Same, summed over every connection of this gateway. */
  maxInFlightGlobal: number;
  /** Bad frames tolerated within `badFrameWindowMs` before the socket is closed with 1008. */
  badFrameBudget: number;
  badFrameWindowMs: number;
}

export const DEFAULT_LIMITS: GatewayLimits = {
  maxInFlightPerConnection: 2_000,
  maxInFlightGlobal: 20_000,
  badFrameBudget: 10,
  badFrameWindowMs: 60_000,
};

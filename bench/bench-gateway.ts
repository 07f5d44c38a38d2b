// The gateway as the bench modules start it: loopback, one shared agent token, heartbeats slow
// enough never to fire during a measurement, no TLS, nothing logged.
import type { NatsConnection } from '@hal/bus';
import { createGateway, type Gateway } from '@hal/gateway';
import type { Logger } from '@hal/observability';
import { createRegistry } from '@hal/observability';

export function createBenchGateway(opts: {
  nc: NatsConnection;
  log: Logger;
  token: string;
  gatewayId: string;
}): Gateway {
  return createGateway({
    config: {
      server: { host: '127.0.0.1', port: 0, auth_token: opts.token },
      heartbeat_interval_sec: 600,
      heartbeat_timeout_count: 3,
      security: { tls: { enabled: false }, origin_allowlist: [], node_tokens: {} },
    },
    nc: opts.nc,
    log: opts.log,
    registry: createRegistry({ defaultMetrics: false }),
    gatewayId: opts.gatewayId,
    stopGraceMs: 200,
  });
}

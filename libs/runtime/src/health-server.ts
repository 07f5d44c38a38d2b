import {
  bearerToken,
  healthPlugin,
  type Lifecycle,
  type Logger,
  type Readiness,
  type Registry,
  tokensEqual,
} from '@hal/observability';
import Fastify, { type FastifyInstance } from 'fastify';

export interface HealthServerOptions {
  host: string;
  /** 0 = any free port (tests). */
  port: number;
  readiness: Readiness;
  registry: Registry;
  metricsPublic: boolean;
  /** Bearer token that may read /metrics when it is not public. */
  authToken: string;
  log: Logger;
}

export interface HealthServer extends Lifecycle {
  /** The bound port, known after start(). */
  port(): number;
}

/**
 * /healthz, /readyz and /metrics for a process whose services serve no HTTP of their own: a
 * standalone tracker, cost-poller or policy service (its k8s probes and Prometheus scrape), or
 * a supervisor run without the HTTP API.
 */
export function createHealthServer(opts: HealthServerOptions): HealthServer {
  let app: FastifyInstance | undefined;
  let bound = 0;
  return {
    port: () => bound,
    async start() {
      app = Fastify({ logger: false });
      await app.register(healthPlugin, {
        readiness: opts.readiness,
        registry: opts.registry,
        metricsPublic: opts.metricsPublic,
        authorizeMetrics: (req) => {
          const token = bearerToken(req.headers.authorization);
          return token !== undefined && tokensEqual(token, opts.authToken);
        },
      });
      await app.listen({ host: opts.host, port: opts.port });
      const addr = app.server.address();
      bound = addr !== null && typeof addr === 'object' ? addr.port : opts.port;
      opts.log.info({ host: opts.host, port: bound }, 'health endpoints listening');
    },
    async stop() {
      await app?.close();
      app = undefined;
    },
  };
}

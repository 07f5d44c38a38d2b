import { ErrorCode } from '@hal/protocol';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Registry } from 'prom-client';
import type { Readiness } from './readiness.ts';

export interface HealthPluginOptions {
  readiness: Readiness;
  registry: Registry;
  /** Serve `/metrics` without credentials (e.g. bound to a private interface). */
  metricsPublic?: boolean;
  /** Decides whether a request may read `/metrics` when it is not public. */
  authorizeMetrics?: (req: FastifyRequest) => boolean | Promise<boolean>;
}

const healthRoutes: FastifyPluginAsync<HealthPluginOptions> = async (app, opts) => {
  // Liveness says only "the event loop answers": restarting the process would not fix NATS.
  app.get('/healthz', async (_req, reply) => reply.code(200).send({ status: 'ok' }));

  app.get('/readyz', async (_req, reply) => {
    const report = await opts.readiness.evaluate();
    return reply
      .code(report.ready ? 200 : 503)
      .header('cache-control', 'no-store')
      .send({ status: report.ready ? 'ready' : 'not_ready', checks: report.checks });
  });

  app.get('/metrics', async (req, reply) => {
    const allowed = opts.metricsPublic === true || (await opts.authorizeMetrics?.(req)) === true;
    if (!allowed) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({
          error: { code: ErrorCode.UNAUTHORIZED, message: 'metrics require a valid bearer token' },
        });
    }
    const body = await opts.registry.metrics();
    return reply.code(200).header('content-type', opts.registry.contentType).send(body);
  });
};

/** `/healthz`, `/readyz` and `/metrics` on the app it is registered on (not encapsulated). */
export const healthPlugin = fp(healthRoutes, { name: 'hal-health', fastify: '5.x' });

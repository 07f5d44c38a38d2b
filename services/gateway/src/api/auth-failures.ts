import type { Logger } from '@hal/observability';
import { createRateLimitedLog, type HalMetrics } from '@hal/observability';
import { ErrorCode } from '@hal/protocol';
import type { FastifyInstance } from 'fastify';

declare module 'fastify' {
  interface FastifyRequest {
    /** The catalogue code the error handler answered with, so the response hook can name a denial. */
    halErrorCode: string | null;
  }
}

/** `reason` label of a 401/403: a short fixed word, never the token or a free-form message. */
export function refusalReason(status: number, code: string | null, hasAuthorization: boolean): string {
  if (code === ErrorCode.ORIGIN_NOT_ALLOWED) return 'origin';
  if (status === 401) return hasAuthorization ? 'invalid_token' : 'missing_token';
  if (code === ErrorCode.FORBIDDEN) return 'role';
  return code === null ? `status_${status}` : code.toLowerCase();
}

/**
 * Every API answer with 401 or 403 — from authentication, a role check, the origin policy or
 * `/metrics` — is counted in `hal_o_swarm_auth_failures_total{surface="api",reason}` and logged
 * with its reason, a few lines per reason and minute, so a token-guessing flood is visible
 * without flooding the log.
 */
export function watchAuthFailures(app: FastifyInstance, deps: { metrics: HalMetrics; log: Logger }): void {
  const refusals = createRateLimitedLog(deps.log);
  app.decorateRequest('halErrorCode', null);
  app.addHook('onResponse', async (req, reply) => {
    const status = reply.statusCode;
    if (status !== 401 && status !== 403) return;
    const reason = refusalReason(status, req.halErrorCode, req.headers.authorization !== undefined);
    deps.metrics.authFailuresTotal.inc({ surface: 'api', reason });
    refusals.warn(
      `api:${reason}`,
      {
        reason,
        status,
        method: req.method,
        route: req.routeOptions.url ?? req.url.split('?')[0]?.slice(0, 100),
        remote: req.ip,
        principal: req.principal?.name,
        request_id: req.id,
      },
      'api request refused',
    );
  });
}

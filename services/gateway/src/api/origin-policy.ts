import type { FastifyReply, FastifyRequest } from 'fastify';
import { checkOrigin, corsAllowed } from '../origin-allowlist.ts';

/** What a browser on an allowed origin may send; the API has no other methods or custom headers. */
const PREFLIGHT_HEADERS = {
  'access-control-allow-methods': 'GET, POST',
  'access-control-allow-headers': 'authorization, content-type',
  'access-control-max-age': '600',
} as const;

/**
 * `security.origin_allowlist` on the HTTP API, the same rule as on the agent WebSocket: a
 * browser request from an origin not on a non-empty list is refused with ORIGIN_NOT_ALLOWED
 * before authentication, so a page elsewhere cannot even probe tokens. A listed origin gets
 * its own name echoed back (never `*`), and its preflight is answered here: browsers send
 * preflights without the Authorization header, so they would otherwise fail as 401.
 */
export function originPolicy(allowlist: readonly string[]) {
  return async (req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const origin = req.headers.origin;
    const refused = checkOrigin(origin, allowlist);
    if (refused !== undefined) throw refused;
    // Caches must not serve one origin's answer (with its CORS header) to another.
    if (allowlist.length > 0) reply.header('vary', 'Origin');
    if (!corsAllowed(origin, allowlist)) return undefined;
    reply.header('access-control-allow-origin', origin);
    if (req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined) {
      // Returning the sent reply tells fastify the request is answered: auth and routing are skipped.
      return reply.code(204).headers(PREFLIGHT_HEADERS).send();
    }
    return undefined;
  };
}

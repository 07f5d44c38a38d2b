import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerToken, tokensEqual } from '@hal/observability';
import { ErrorCode } from '@hal/protocol';
import type { GatewayConfig } from './gateway-config.ts';
import { checkOrigin } from './origin-allowlist.ts';

/** Paths an agent may upgrade on: `/agent`, and `/` so a bare `supervisor_url` works. */
const AGENT_PATHS = new Set(['/', '/agent']);
const NODE_HEADER = 'x-hal-node';
const MAX_NODE_LENGTH = 256;

export type AuthResult =
  | { ok: true; node: string }
  | {
      ok: false;
      status: 400 | 401 | 403 | 404;
      code: ErrorCode;
      message: string;
    };

type AuthConfig = Pick<GatewayConfig, 'server' | 'security'>;

/**
 * Decides an upgrade before it is accepted. Only the `Authorization` header counts: a token in
 * the URL would end up in proxy and access logs, so query strings are never read.
 */
export function authenticateUpgrade(req: IncomingMessage, config: AuthConfig): AuthResult {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (!AGENT_PATHS.has(path)) {
    return { ok: false, status: 404, code: ErrorCode.NOT_FOUND, message: `no WebSocket endpoint at ${path}` };
  }
  const refused = checkOrigin(req.headers.origin, config.security.origin_allowlist);
  if (refused !== undefined) return { ok: false, status: 403, code: refused.code, message: refused.message };
  const token = bearerToken(req.headers.authorization);
  if (token === undefined) {
    return {
      ok: false,
      status: 401,
      code: ErrorCode.UNAUTHORIZED,
      message: 'missing "Authorization: Bearer <token>" header',
    };
  }
  const nodeHeader = req.headers[NODE_HEADER];
  const node = typeof nodeHeader === 'string' ? nodeHeader.trim() : '';
  if (node === '' || node.length > MAX_NODE_LENGTH) {
    return {
      ok: false,
      status: 400,
      code: ErrorCode.VALIDATION_FAILED,
      message: 'missing or invalid "X-Hal-Node" header: it must name the node (1-256 characters)',
    };
  }
  if (tokensEqual(token, config.server.auth_token)) return { ok: true, node };
  const tokens = config.security.node_tokens;
  const ownToken = Object.hasOwn(tokens, node) ? tokens[node] : undefined;
  if (ownToken !== undefined && tokensEqual(token, ownToken)) return { ok: true, node };
  // A valid token of another node: authenticated, but it may not speak for this node.
  for (const [other, otherToken] of Object.entries(tokens)) {
    if (other !== node && tokensEqual(token, otherToken)) {
      return {
        ok: false,
        status: 403,
        code: ErrorCode.FORBIDDEN,
        message: `this token belongs to another node and may not connect as node "${node}"`,
      };
    }
  }
  return { ok: false, status: 401, code: ErrorCode.UNAUTHORIZED, message: 'invalid token' };
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  503: 'Service Unavailable',
};

/** Writes a refusal on the raw socket of an upgrade that was never accepted, then ends it. */
export function refuseUpgrade(socket: Duplex, status: number, code: ErrorCode, message: string): void {
  const body = JSON.stringify({ error: { code, message } });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(status === 401 ? ['WWW-Authenticate: Bearer'] : []),
  ];
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

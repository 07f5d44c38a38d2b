import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { bearerToken, tokensEqual } from '@hal/observability';
import {
  type EnrollmentRecord,
  EnrollmentStatus,
  ErrorCode,
  fitsSubjectToken,
  isReservedNodeName,
  LIMITS,
} from '@hal/protocol';
import type { GatewayConfig } from './gateway-config.ts';
import { checkOrigin } from './origin-allowlist.ts';

/** Paths an agent may upgrade on: `/agent`, and `/` so a bare `supervisor_url` works. */
const AGENT_PATHS = new Set(['/', '/agent']);
const NODE_HEADER = 'x-hal-node';

/** How an agent proved who it is; decides what a later enrollment change does to its socket. */
export type AgentCredential =
  | { kind: 'enrolled'; tokenSha256: string; projects: ReadonlyArray<{ name: string; directory: string }> }
  | { kind: 'configured' }
  | { kind: 'shared' };

export type AuthResult =
  | { ok: true; node: string; credential: AgentCredential }
  | {
      ok: false;
      status: 400 | 401 | 403 | 404;
      code: ErrorCode;
      message: string;
      /** Label of `hal_o_swarm_auth_failures_total{surface="ws"}`: a short, fixed word. */
      reason: string;
      /** The node refused, when the enrollment copy decided it (a fresher copy may decide otherwise). */
      staleCopyOf?: string;
    };

type AuthConfig = Pick<GatewayConfig, 'server' | 'security'>;

/** What the upgrade needs to know of enrollments (the gateway's watched copy of HAL_NODES). */
export interface EnrollmentLookup {
  get(node: string): EnrollmentRecord | undefined;
  /** The node whose active enrollment has this token hash, if any. */
  nodeOfToken(tokenSha256: string): string | undefined;
}

export function tokenSha256(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time equality of two hex SHA-256 digests. */
function digestsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * Decides an upgrade before it is accepted. Only the `Authorization` header counts: a token in
 * the URL would end up in proxy and access logs, so query strings are never read.
 *
 * A node with its own credential (an active enrollment, or `security.node_tokens`) connects
 * with that credential only. The shared `server.auth_token` connects nodes without one, unless
 * `security.require_node_tokens` is set. An API token never opens an agent socket.
 */
export function authenticateUpgrade(
  req: IncomingMessage,
  config: AuthConfig,
  enrollments?: EnrollmentLookup,
): AuthResult {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (!AGENT_PATHS.has(path)) {
    return {
      ok: false,
      status: 404,
      code: ErrorCode.NOT_FOUND,
      message: `no WebSocket endpoint at ${path.slice(0, 100)}`,
      reason: 'path',
    };
  }
  const refused = checkOrigin(req.headers.origin, config.security.origin_allowlist);
  if (refused !== undefined) {
    return { ok: false, status: 403, code: refused.code, message: refused.message, reason: 'origin' };
  }
  const token = bearerToken(req.headers.authorization);
  if (token === undefined) {
    return {
      ok: false,
      status: 401,
      code: ErrorCode.UNAUTHORIZED,
      message: 'missing "Authorization: Bearer <token>" header',
      reason: 'missing_token',
    };
  }
  const nodeHeader = req.headers[NODE_HEADER];
  const node = typeof nodeHeader === 'string' ? nodeHeader.trim() : '';
  if (node === '' || node.length > LIMITS.idChars || !fitsSubjectToken(node)) {
    return {
      ok: false,
      status: 400,
      code: ErrorCode.VALIDATION_FAILED,
      message: `missing or invalid "X-Hal-Node" header: it must name the node (1-${LIMITS.idChars} characters, at most ${LIMITS.idTokenBytes} bytes once escaped)`,
      reason: 'bad_node',
    };
  }
  if (isReservedNodeName(node)) {
    return {
      ok: false,
      status: 403,
      code: ErrorCode.NODE_NAME_RESERVED,
      message: `node name "${node}" is reserved for the control plane; an agent may not use it`,
      reason: 'reserved_node',
    };
  }
  const presented = tokenSha256(token);
  const enrollment = enrollments?.get(node);
  if (enrollment?.status === EnrollmentStatus.REVOKED) {
    return {
      ok: false,
      status: 403,
      code: ErrorCode.NODE_REVOKED,
      message: `node "${node}" was revoked${enrollment.revoked_at ? ` at ${enrollment.revoked_at}` : ''}; enroll it again (halctl nodes enroll) to let it connect`,
      reason: 'revoked',
      staleCopyOf: node,
    };
  }
  if (enrollment?.token_sha256 != null && digestsEqual(presented, enrollment.token_sha256)) {
    return {
      ok: true,
      node,
      credential: { kind: 'enrolled', tokenSha256: enrollment.token_sha256, projects: enrollment.projects },
    };
  }
  const tokens = config.security.node_tokens;
  const ownToken = Object.hasOwn(tokens, node) ? tokens[node] : undefined;
  if (ownToken !== undefined && tokensEqual(token, ownToken))
    return { ok: true, node, credential: { kind: 'configured' } };
  if (tokensEqual(token, config.server.auth_token)) {
    if (config.security.require_node_tokens === true) {
      return {
        ok: false,
        status: 401,
        code: ErrorCode.UNAUTHORIZED,
        message:
          'server.auth_token is not accepted from agents (security.require_node_tokens is true): enroll the node (halctl nodes enroll) or give it a security.node_tokens entry',
        reason: 'shared_token_refused',
      };
    }
    if (enrollment !== undefined || ownToken !== undefined) {
      return {
        ok: false,
        status: 403,
        code: ErrorCode.FORBIDDEN,
        message: `node "${node}" has its own token; the shared server.auth_token may not connect as it`,
        reason: 'shared_token_for_own_node',
      };
    }
    return { ok: true, node, credential: { kind: 'shared' } };
  }
  // A valid token of another node: authenticated, but it may not speak for this node.
  const otherEnrolled = enrollments?.nodeOfToken(presented);
  const otherConfigured = Object.entries(tokens).some(
    ([other, t]) => other !== node && tokensEqual(token, t),
  );
  if ((otherEnrolled !== undefined && otherEnrolled !== node) || otherConfigured) {
    return {
      ok: false,
      status: 403,
      code: ErrorCode.FORBIDDEN,
      message: `this token belongs to another node and may not connect as node "${node}"`,
      reason: 'wrong_node',
    };
  }
  if ((config.security.api_tokens ?? []).some((t) => tokensEqual(token, t.token))) {
    return {
      ok: false,
      status: 403,
      code: ErrorCode.FORBIDDEN,
      message: 'an API token is not valid on the agent WebSocket: agents connect with their node token',
      reason: 'api_token',
    };
  }
  return {
    ok: false,
    status: 401,
    code: ErrorCode.UNAUTHORIZED,
    message: 'invalid token',
    reason: 'invalid_token',
    staleCopyOf: node,
  };
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

import { createHash, timingSafeEqual } from 'node:crypto';
import { type Principal, Role } from '@hal/commands';
import { ErrorCode, HalError } from '@hal/protocol';
import type { FastifyRequest } from 'fastify';

export interface AuthConfig {
  authToken: string;
  apiTokens: ReadonlyArray<{ name: string; token: string; role: Role }>;
}

/** Name under which `server.auth_token` appears in audit records. */
export const SERVER_TOKEN_NAME = 'server.auth_token';

/** A token is the principal `user:<token name>`; its name is its id. */
function tokenPrincipal(name: string, role: Role): Principal {
  return { kind: 'user', id: name, name, role };
}

interface KnownToken {
  digest: Buffer;
  principal: Principal;
}

const digest = (value: string): Buffer => createHash('sha256').update(value, 'utf8').digest();

export interface Authenticator {
  /** The principal for a request's bearer token; throws UNAUTHORIZED without a valid one. */
  authenticate(req: FastifyRequest): Principal;
  /** Same as `authenticate`, but false instead of throwing (for `/metrics`). */
  isValid(req: FastifyRequest): boolean;
  /** The token's principal, or undefined: names the actor of a refusal, grants nothing. */
  identify(req: FastifyRequest): Principal | undefined;
}

/**
 * Tokens are compared as SHA-256 digests with `timingSafeEqual`: equal-length buffers whatever
 * the token length, and every known token is checked, so timing tells nothing about how much
 * of a guess was right or which token it was close to.
 */
export function createAuthenticator(config: AuthConfig): Authenticator {
  const known: KnownToken[] = [
    { digest: digest(config.authToken), principal: tokenPrincipal(SERVER_TOKEN_NAME, Role.ADMIN) },
    ...config.apiTokens.map((t) => ({ digest: digest(t.token), principal: tokenPrincipal(t.name, t.role) })),
  ];
  const lookup = (req: FastifyRequest): Principal | undefined => {
    const header = req.headers.authorization;
    if (typeof header !== 'string') return undefined;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (!match) return undefined;
    const presented = digest(match[1]!);
    let found: Principal | undefined;
    for (const k of known) {
      if (timingSafeEqual(presented, k.digest) && found === undefined) found = k.principal;
    }
    return found;
  };
  return {
    authenticate(req) {
      const header = req.headers.authorization;
      const principal = lookup(req);
      if (principal) return principal;
      throw new HalError(
        ErrorCode.UNAUTHORIZED,
        header === undefined
          ? 'missing bearer token (Authorization: Bearer <token>)'
          : 'invalid bearer token',
      );
    },
    isValid(req) {
      return lookup(req) !== undefined;
    },
    identify: lookup,
  };
}

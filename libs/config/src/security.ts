import { z } from 'zod';
import { notPlaceholder } from './placeholder.ts';

export const ApiTokenRole = { VIEWER: 'viewer', OPERATOR: 'operator', ADMIN: 'admin' } as const;
export type ApiTokenRole = (typeof ApiTokenRole)[keyof typeof ApiTokenRole];

/** A token someone could guess in an afternoon protects nothing. */
export const MIN_TOKEN_LENGTH = 16;
export const tokenSchema = notPlaceholder(z.string()).min(MIN_TOKEN_LENGTH);

export const apiTokenSchema = z.strictObject({
  name: z.string().min(1),
  token: tokenSchema,
  role: z.enum([ApiTokenRole.VIEWER, ApiTokenRole.OPERATOR, ApiTokenRole.ADMIN]),
});

export const securityConfigSchema = z
  .strictObject({
    tls: z
      .strictObject({
        enabled: z.boolean().default(false),
        cert_path: z.string().min(1).optional(),
        key_path: z.string().min(1).optional(),
      })
      .prefault({})
      .superRefine((tls, ctx) => {
        if (!tls.enabled) return;
        for (const key of ['cert_path', 'key_path'] as const) {
          if (tls[key] === undefined) {
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: 'is required when security.tls.enabled is true: without it TLS cannot start',
            });
          }
        }
      }),
    /** Browser origins allowed on the WS and HTTP API; empty = same-origin and non-browser clients only. */
    origin_allowlist: z.array(z.string().min(1)).default([]),
    audit: z
      .strictObject({
        enabled: z.boolean().default(true),
        retention_days: z.number().int().positive().default(90),
      })
      .prefault({}),
    /** Open SSE event streams one API token may hold at once; one more is refused with 429 RATE_LIMITED. */
    max_sse_streams_per_token: z.number().int().positive().max(10_000).default(16),
    /**
     * Per-node agent tokens; a node with one may connect with it only. Nodes enrolled with
     * `halctl nodes enroll` need no entry here (their token hashes live in the HAL_NODES bucket).
     */
    node_tokens: z.record(z.string().min(1), tokenSchema).default({}),
    /**
     * true: `server.auth_token` no longer opens agent sockets, so every node needs its own token
     * (enrolled or in node_tokens). false keeps the small-setup mode of one shared token.
     */
    require_node_tokens: z.boolean().default(false),
    api_tokens: z
      .array(apiTokenSchema)
      .default([])
      .superRefine((tokens, ctx) => {
        const seen = new Set<string>();
        tokens.forEach((t, i) => {
          if (seen.has(t.name)) {
            ctx.addIssue({
              code: 'custom',
              path: [i, 'name'],
              message: `duplicate api token name "${t.name}": audit records could not tell the two apart`,
            });
          }
          seen.add(t.name);
        });
      }),
  })
  .prefault({});

/**
 * What `server.auth_token` allows under this config, said plainly: `--validate` prints it and
 * the gateway logs it at start, so nobody mistakes the shared token for an agent-only secret.
 */
export function sharedTokenNotice(security: { require_node_tokens: boolean }): string {
  return security.require_node_tokens
    ? 'server.auth_token is an admin API token (every API action); agents cannot connect with it (security.require_node_tokens is true): each node needs its own token'
    : 'server.auth_token is an admin API token (every API action) AND an agent credential that connects as any node without a token of its own (security.require_node_tokens is false); enroll nodes (halctl nodes enroll <node>) and set security.require_node_tokens to true to give every agent its own credential';
}

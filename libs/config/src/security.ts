import { z } from 'zod';

export const ApiTokenRole = { VIEWER: 'viewer', OPERATOR: 'operator', ADMIN: 'admin' } as const;
export type ApiTokenRole = (typeof ApiTokenRole)[keyof typeof ApiTokenRole];

/** A token someone could guess in an afternoon protects nothing. */
export const MIN_TOKEN_LENGTH = 16;
export const tokenSchema = z.string().min(MIN_TOKEN_LENGTH);

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
    /** Per-node agent tokens; a node without one authenticates with `server.auth_token`. */
    node_tokens: z.record(z.string().min(1), tokenSchema).default({}),
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

export type SecurityConfig = z.output<typeof securityConfigSchema>;
export type ApiToken = z.output<typeof apiTokenSchema>;

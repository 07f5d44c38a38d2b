import { type AuditLog, auditParams, type Principal, type Role, requireRole } from '@hal/commands';
import { ErrorCode, HalError, parseOrThrow } from '@hal/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { z } from 'zod';

type Infer<S> = S extends z.ZodType ? z.output<S> : undefined;

/** What a mutating route records in HAL_AUDIT; handlers add what they learn (the node). */
export interface AuditDraft {
  target: Record<string, string>;
  params: Record<string, unknown>;
}

export interface RouteContext<P, Q, B> {
  params: P;
  query: Q;
  body: B;
  principal: Principal;
  req: FastifyRequest;
  reply: FastifyReply;
  audit: AuditDraft;
}

export interface ApiResult {
  data: unknown;
  meta?: Record<string, unknown>;
  status?: number;
}

/**
 * One API route: how it is registered AND how it is documented. The OpenAPI document is built
 * from these same objects, so the two cannot drift apart.
 */
export interface RouteSpec<
  P extends z.ZodType | undefined = z.ZodType | undefined,
  Q extends z.ZodType | undefined = z.ZodType | undefined,
  B extends z.ZodType | undefined = z.ZodType | undefined,
> {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  summary: string;
  tag: string;
  role: Role;
  params?: P;
  query?: Q;
  body?: B;
  /** Schema of `data` in the success envelope (or of each SSE message for `stream`). */
  response: z.ZodType;
  successStatus?: number;
  /** The handler writes Server-Sent Events itself instead of returning an envelope. */
  stream?: boolean;
  /** Set on mutating routes: the audit action (`session.kill`, …). */
  auditAction?: string;
  /** Takes an `Idempotency-Key` header (documented in OpenAPI). */
  idempotent?: boolean;
  handler(ctx: RouteContext<Infer<P>, Infer<Q>, Infer<B>>): Promise<ApiResult | undefined>;
}

/** Identity function that lets TypeScript infer the handler's types from the schemas. */
export function defineRoute<
  P extends z.ZodType | undefined = undefined,
  Q extends z.ZodType | undefined = undefined,
  B extends z.ZodType | undefined = undefined,
>(spec: RouteSpec<P, Q, B>): RouteSpec {
  return spec as unknown as RouteSpec;
}

function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new HalError(ErrorCode.UNAUTHORIZED, 'missing bearer token');
  return req.principal;
}

/** Registers the routes as one encapsulated plugin, validating every input with its zod schema. */
export function registerRoutes(app: FastifyInstance, routes: readonly RouteSpec[], auditLog: AuditLog): void {
  for (const route of routes) {
    app.route({
      method: route.method,
      url: route.url,
      // Read by the refusal audit (refusal-audit.ts) for what never reaches the handler.
      ...(route.auditAction ? { config: { auditAction: route.auditAction } } : {}),
      // Role check before the body is read: a viewer's POST is refused without parsing it.
      onRequest: async (req) => requireRole(principalOf(req), route.role, `${route.method} ${route.url}`),
      handler: async (req, reply) => {
        const principal = principalOf(req);
        const audit: AuditDraft = { target: {}, params: auditParams(req.body) };
        let outcome: { ok: boolean; code?: string } = { ok: true };
        try {
          const params = route.params ? parseOrThrow(route.params, req.params, 'path parameters') : undefined;
          if (params && typeof params === 'object' && 'id' in params)
            audit.target.session = String(params.id);
          const query = route.query ? parseOrThrow(route.query, req.query ?? {}, 'query string') : undefined;
          const body = route.body ? parseOrThrow(route.body, req.body ?? {}, 'request body') : undefined;
          const result = await route.handler({ params, query, body, principal, req, reply, audit } as never);
          if (route.stream || result === undefined) return reply;
          return reply
            .code(result.status ?? route.successStatus ?? 200)
            .send({ data: result.data, meta: { ...result.meta, request_id: req.id } });
        } catch (err) {
          outcome = { ok: false, code: err instanceof HalError ? err.code : ErrorCode.INTERNAL };
          throw err;
        } finally {
          if (route.auditAction) {
            req.halAudited = true;
            await auditLog.record({ principal, action: route.auditAction, ...audit, result: outcome });
          }
        }
      },
    });
  }
}

import type { AuditLog, Principal } from '@hal/commands';
import { ErrorCode } from '@hal/protocol';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { refusalReason } from './auth-failures.ts';

declare module 'fastify' {
  interface FastifyRequest {
    /** Set once the route's handler wrote its own audit record (success or failure). */
    halAudited: boolean;
    /** The message of the catalogue error the request was answered with. */
    halErrorMessage: string | null;
  }
  interface FastifyContextConfig {
    /** The audit action of a mutating route (from its RouteSpec). */
    auditAction?: string;
  }
}

/** Individual refusal records per actor (or remote address) and window; the rest are summed. */
export const REFUSALS_PER_WINDOW = 10;
export const REFUSAL_WINDOW_MS = 60_000;
/** Actors/remotes tracked at once; past it, new ones share one bucket (a spray of addresses). */
const MAX_TRACKED = 10_000;
const MAX_TARGET_CHARS = 256;

/**
 * Who a refused request came from: its principal, or the holder of its valid token when it was
 * refused before authentication (origin), or `user:unauthenticated` with no valid token.
 */
export const UNAUTHENTICATED: Principal = {
  kind: 'user',
  id: 'unauthenticated',
  name: 'unauthenticated',
  role: null,
};

/** Path parameters under the names the handlers give them in their audit targets. */
const RENAMED: Readonly<Record<string, string>> = { permissionId: 'permission', name: 'policy' };

/** The route's path parameters as an audit target, named as the handlers name them. */
function targetOf(req: FastifyRequest): Record<string, string> {
  const params = (req.params ?? {}) as Record<string, unknown>;
  const url = req.routeOptions.url ?? '';
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(params)) {
    if (typeof value !== 'string') continue;
    const name =
      key === 'id' ? (url.startsWith('/api/v1/nodes/') ? 'node' : 'session') : (RENAMED[key] ?? key);
    out[name] = value.slice(0, MAX_TARGET_CHARS);
  }
  return out;
}

interface Bucket {
  windowStart: number;
  recorded: number;
  suppressed: number;
  /** The last suppressed refusal, for the summary record. */
  sample?: { principal: Principal; remote: string; action: string; reason: string };
}

/**
 * Every refused attempt at a mutating route — no or a wrong token, a role too low, a browser
 * origin not allowed, a body refused before the handler ran — is written to HAL_AUDIT with the
 * actor (or `user:unauthenticated`), the remote address and the reason, like the Discord
 * bridge's refusals. Handlers audit their own outcomes; this catches what never reached them.
 * A flood (a token-guessing script) cannot push the real trail out of the size-bounded stream:
 * past REFUSALS_PER_WINDOW a minute per actor or address, refusals are summed into one
 * `api.refusals_suppressed` record per window.
 */
export function auditRefusals(
  app: FastifyInstance,
  deps: {
    auditLog: AuditLog;
    now?: () => number;
    /**
     * The token's principal when the request was refused before authentication (a foreign
     * origin is checked first): a valid token names the actor; it grants nothing here.
     */
    identify?: (req: FastifyRequest) => Principal | undefined;
  },
): void {
  const now = deps.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  app.decorateRequest('halAudited', false);
  app.decorateRequest('halErrorMessage', null);

  async function flush(key: string, b: Bucket): Promise<void> {
    if (b.suppressed === 0 || !b.sample) return;
    const { principal, remote, action, reason } = b.sample;
    const count = b.suppressed;
    b.suppressed = 0;
    await deps.auditLog.record({
      principal,
      action: 'api.refusals_suppressed',
      target: {},
      params: { remote, last_action: action, last_reason: reason, count, window_ms: REFUSAL_WINDOW_MS, key },
      result: {
        ok: false,
        code: ErrorCode.RATE_LIMITED,
        message: `${count} more refused requests from ${key} in ${REFUSAL_WINDOW_MS / 1000} s, not audited one by one`,
      },
    });
  }

  const timer = setInterval(() => {
    const t = now();
    for (const [key, b] of buckets) {
      if (t - b.windowStart < REFUSAL_WINDOW_MS) continue;
      buckets.delete(key);
      void flush(key, b);
    }
  }, REFUSAL_WINDOW_MS);
  timer.unref();
  app.addHook('onClose', async () => {
    clearInterval(timer);
    for (const [key, b] of buckets) await flush(key, b);
    buckets.clear();
  });

  app.addHook('onResponse', async (req, reply) => {
    const action = req.routeOptions.config?.auditAction;
    if (action === undefined || req.halAudited || reply.statusCode < 400) return;
    const known = req.principal ?? deps.identify?.(req);
    const principal = known ?? UNAUTHENTICATED;
    const remote = req.ip;
    const reason = refusalReason(reply.statusCode, req.halErrorCode, req.headers.authorization !== undefined);
    let key = known ? `${principal.kind}:${principal.id}` : `remote:${remote}`;
    if (!buckets.has(key) && buckets.size >= MAX_TRACKED) key = '*';
    const t = now();
    let b = buckets.get(key);
    if (b && t - b.windowStart >= REFUSAL_WINDOW_MS) {
      await flush(key, b);
      b = undefined;
    }
    if (!b) {
      b = { windowStart: t, recorded: 0, suppressed: 0 };
      buckets.set(key, b);
    }
    if (b.recorded >= REFUSALS_PER_WINDOW) {
      b.suppressed++;
      b.sample = { principal, remote, action, reason };
      return;
    }
    b.recorded++;
    await deps.auditLog.record({
      principal,
      action,
      target: targetOf(req),
      params: { remote, reason, method: req.method },
      result: {
        ok: false,
        code: req.halErrorCode ?? `HTTP_${reply.statusCode}`,
        ...(req.halErrorMessage ? { message: req.halErrorMessage.slice(0, 500) } : {}),
      },
    });
  });
}

import { randomUUID } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import { type EnvManifestStore, jetstreamClient, type NatsConnection, openEnvManifestStore } from '@hal/bus';
import {
  createAuditLog,
  createSessionCommands,
  createTrackerClient,
  type Principal,
  type Role,
} from '@hal/commands';
import type { Logger } from '@hal/observability';
import { createHalMetrics, healthPlugin, type Readiness, type Registry } from '@hal/observability';
import Fastify, { type FastifyInstance } from 'fastify';
import { createAuthenticator } from './api/auth.ts';
import { watchAuthFailures } from './api/auth-failures.ts';
import type { ApiDeps } from './api/deps.ts';
import {
  answerClientError,
  answerFrameworkError,
  installErrorHandlers,
  MAX_PARAM_LENGTH,
} from './api/errors.ts';
import { DEFAULT_MAX_SSE_STREAMS_PER_TOKEN, SSE_HEARTBEAT_MS } from './api/event-stream.ts';
import { originPolicy } from './api/origin-policy.ts';
import { auditRefusals } from './api/refusal-audit.ts';
import { type RouteSpec, registerRoutes } from './api/route-table.ts';
import { agentMdRoutes } from './api/routes/agent-md.ts';
import { auditRoutes } from './api/routes/audit.ts';
import { costRoutes } from './api/routes/cost.ts';
import { enrollmentRoutes } from './api/routes/enrollments.ts';
import { envRoutes } from './api/routes/env.ts';
import { eventRoutes } from './api/routes/events.ts';
import { fleetRoutes } from './api/routes/fleet.ts';
import { meRoute } from './api/routes/me.ts';
import { nodeRoutes } from './api/routes/nodes.ts';
import { openApiRoute } from './api/routes/openapi.ts';
import { policyRoutes } from './api/routes/policies.ts';
import { projectRoutes } from './api/routes/projects.ts';
import { routeRuleRoutes } from './api/routes/route-rules.ts';
import { sessionRoutes } from './api/routes/sessions.ts';
import { defaultDashboardDir, isDashboardPath, registerDashboard } from './dashboard-files.ts';
import { createEnrollmentStore, nodesBucket } from './enrollment-store.ts';
import { readTlsFiles, type TlsConfig } from './tls-files.ts';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
}

/** The slice of the supervisor config the HTTP API reads. */
export interface HttpApiConfig {
  server: {
    http_host: string;
    http_port: number;
    auth_token: string;
    max_body_bytes: number;
    metrics_public: boolean;
    /** Serve the web dashboard at `/` (default true). */
    dashboard?: boolean;
  };
  security: {
    api_tokens: ReadonlyArray<{ name: string; token: string; role: Role }>;
    audit: { enabled: boolean };
    /** HTTPS on http_port when enabled. Absent means plain HTTP (benches, tests). */
    tls?: TlsConfig;
    /** Browser origins allowed on the API; absent or empty means no Origin is refused. */
    origin_allowlist?: readonly string[];
    /** Open SSE streams one token may hold (default 16); one more is refused with 429. */
    max_sse_streams_per_token?: number;
  };
  /** `nats.replicas`: of the KV buckets the API opens (absent: 1). */
  nats?: { replicas: number };
}

export interface HttpApiDeps {
  config: HttpApiConfig;
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  readiness: Readiness;
  clock?: { now(): Date };
  /** Tracker query timeout (default 5 s). */
  trackerTimeoutMs?: number;
  /** SSE keep-alive comment interval (default 15 s). */
  sseHeartbeatMs?: number;
  /** The dashboard's built files (default: dist/ of the @hal/dashboard package). */
  dashboardDir?: string;
}

export interface HttpApi {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The fastify instance, for `inject` in tests. */
  readonly app: FastifyInstance;
  /** The bound address once started. */
  address(): { host: string; port: number };
}

/** Paths that answer without a token; `/metrics` decides for itself (`metrics_public`). */
const OPEN_PATHS = new Set(['/healthz', '/readyz', '/metrics']);

export function createHttpApi(deps: HttpApiDeps): HttpApi {
  const { config } = deps;
  const log = deps.log.child({ component: 'http-api' });
  const now = () => deps.clock?.now() ?? new Date();
  const js = jetstreamClient(deps.nc);
  const auth = createAuthenticator({
    authToken: config.server.auth_token,
    apiTokens: config.security.api_tokens,
  });
  const tracker = createTrackerClient(deps.nc, deps.trackerTimeoutMs);
  let envStore: Promise<EnvManifestStore> | undefined;
  const apiDeps: ApiDeps = {
    envManifest() {
      // A failed open (JetStream not up yet) is not cached: the next request tries again.
      envStore ??= openEnvManifestStore(deps.nc, deps.config.nats?.replicas).catch((err: unknown) => {
        envStore = undefined;
        throw err;
      });
      return envStore;
    },
    nc: deps.nc,
    js,
    tracker,
    commands: createSessionCommands({ nc: deps.nc, tracker }),
    // Opened on first use: an API that never enrolls never needs the bucket.
    enrollments: createEnrollmentStore({ kv: nodesBucket(deps.nc, deps.config.nats?.replicas), now }),
    log,
    sseHeartbeatMs: deps.sseHeartbeatMs ?? SSE_HEARTBEAT_MS,
    openStreams: new Set(),
    streamsPerToken: new Map(),
    maxStreamsPerToken: config.security.max_sse_streams_per_token ?? DEFAULT_MAX_SSE_STREAMS_PER_TOKEN,
  };
  const auditLog = createAuditLog({
    js,
    enabled: config.security.audit.enabled,
    log,
    now,
    source: 'http-api',
  });

  const routes: RouteSpec[] = [];
  routes.push(
    meRoute(),
    ...nodeRoutes(apiDeps),
    ...enrollmentRoutes(apiDeps),
    ...fleetRoutes(apiDeps),
    ...sessionRoutes(apiDeps),
    ...projectRoutes(apiDeps),
    ...eventRoutes(apiDeps),
    ...auditRoutes(apiDeps),
    ...policyRoutes(apiDeps),
    ...costRoutes(apiDeps),
    ...envRoutes(apiDeps),
    ...agentMdRoutes(apiDeps),
    ...routeRuleRoutes(apiDeps),
    openApiRoute(() => routes),
  );

  const tls = config.security.tls ?? { enabled: false };
  // The TLS server is created now (fastify needs it at construction) with an empty context;
  // start() reads the files and installs them, so a bad path fails start() with the key named
  // instead of throwing while the services are being assembled. Routes never touch the raw
  // server, so typing the instance as the plain-HTTP one only affects `app.server`.
  const app = Fastify({
    ...(tls.enabled ? { https: {} } : {}),
    bodyLimit: config.server.max_body_bytes,
    genReqId: () => randomUUID(),
    // Requests are not logged one by one (tokens stay out of logs, and the hot path stays fast);
    // failures are logged by the error handler with the request id.
    logger: false,
    // A request Node's parser refuses (headers past 16 KiB, malformed) never reaches a route:
    // it still gets the error envelope, not a bare status line.
    clientErrorHandler: answerClientError,
    frameworkErrors: answerFrameworkError,
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
  }) as unknown as FastifyInstance;
  app.decorateRequest('principal', null);
  installErrorHandlers(app, log);
  watchAuthFailures(app, { metrics: createHalMetrics(deps.registry), log });
  auditRefusals(app, { auditLog, identify: (req) => auth.identify(req) });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
    reply.header('x-content-type-options', 'nosniff');
  });
  app.addHook('onRequest', originPolicy(config.security.origin_allowlist ?? []));
  const dashboardDir =
    config.server.dashboard === false ? undefined : (deps.dashboardDir ?? defaultDashboardDir());
  app.addHook('onRequest', async (req) => {
    const path = req.url.split('?')[0] ?? '';
    if (OPEN_PATHS.has(path)) return;
    // The page and its scripts carry no secret; everything they fetch from /api needs the token.
    if (
      dashboardDir !== undefined &&
      (req.method === 'GET' || req.method === 'HEAD') &&
      isDashboardPath(path)
    )
      return;
    req.principal = auth.authenticate(req);
  });
  app.register(healthPlugin, {
    readiness: deps.readiness,
    registry: deps.registry,
    metricsPublic: config.server.metrics_public,
    authorizeMetrics: (req) => auth.isValid(req),
  });
  app.register(async (scope) => registerRoutes(scope, routes, auditLog));
  if (dashboardDir !== undefined) app.register(async (scope) => registerDashboard(scope, dashboardDir, log));

  let listening = false;
  return {
    app,
    async start() {
      if (tls.enabled) {
        const { cert, key } = await readTlsFiles(tls);
        (app.server as HttpServer as unknown as TlsServer).setSecureContext({ cert, key });
      }
      await app.listen({ host: config.server.http_host, port: config.server.http_port });
      listening = true;
      log.info({ ...this.address(), tls: tls.enabled }, 'http api listening');
    },
    async stop() {
      // close() waits for open requests, and an SSE request only ends when we end it.
      for (const end of [...apiDeps.openStreams]) end();
      await app.close();
      listening = false;
    },
    address() {
      if (!listening) throw new Error('http api is not listening');
      const addr = app.server.address() as AddressInfo;
      return { host: addr.address, port: addr.port };
    },
  };
}

import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import type { Duplex } from 'node:stream';
import { jetstreamClient, type NatsConnection, openSessionOwners, type SessionOwners } from '@hal/bus';
import { sharedTokenNotice } from '@hal/config';
import {
  type Clock,
  createHalMetrics,
  createRateLimitedLog,
  type Logger,
  type Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
import { ErrorCode, WS_LIMITS } from '@hal/protocol';
import { WebSocketServer } from 'ws';
import { AgentConnection } from './agent-connection.ts';
import type { ConnectionShared, IngestStats } from './agent-connection-deps.ts';
import { nodesBucket } from './enrollment-store.ts';
import { createEnrollmentWatch } from './enrollment-watch.ts';
import { DEFAULT_LIMITS, type GatewayConfig, type GatewayLimits } from './gateway-config.ts';
import { createNodeRegistry, type NodeInfo } from './node-registry.ts';
import { PublishBudget } from './publish-budget.ts';
import { readTlsFiles } from './tls-files.ts';
import { type AuthResult, authenticateUpgrade, refuseUpgrade } from './ws-auth.ts';

/** How often the gateway pings each agent: well inside the agent's 6 s silence limit. */
const AGENT_PING_INTERVAL_MS = 2_000;
/** `alerts.clock_skew_seconds` when the config has no `alerts` section (tests' plain configs). */
const DEFAULT_CLOCK_SKEW_SECONDS = 30;

export interface GatewayDeps {
  config: GatewayConfig;
  /** Owned by the caller: the gateway never closes it. */
  nc: NatsConnection;
  log: Logger;
  /** prom-client registry the `hal_o_swarm_*` metrics go on. */
  registry: Registry;
  readiness?: Readiness;
  clock?: Clock;
  /** Names this instance in claims, heartbeats and node events; default `<hostname>-<random>`. */
  gatewayId?: string;
  limits?: Partial<GatewayLimits>;
  /** How long stop() waits for agents to finish the close handshake. Default 2 s. */
  stopGraceMs?: number;
  /** Replicas of the session-owner KV bucket (1 on one host, 3 on a cluster). */
  kvReplicas?: number;
  /** How often heartbeat deadlines are checked against the clock (default: a quarter beat, at most 1 s; tests call tick()). */
  heartbeatCheckMs?: number;
}

export interface Gateway {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Nodes whose agent is connected to this instance. */
  nodes(): NodeInfo[];
  /** Backpressure state of the live connection(s) of a node on this instance (read-only). */
  connectionStats(node: string): IngestStats[];
  /** The bound port (useful with port 0). */
  address(): { port: number };
  /** Checks every connection's heartbeat deadline against the clock now (the timer calls the same). */
  tick(): void;
  readonly id: string;
}

/**
 * The WebSocket side of the gateway: agents dial in on `server.host:server.port`, are
 * authenticated before the upgrade, and each socket becomes an AgentConnection.
 */
export function createGateway(deps: GatewayDeps): Gateway {
  const { config, nc } = deps;
  const id = deps.gatewayId ?? `${hostname()}-${crypto.randomUUID().slice(0, 8)}`;
  const log = deps.log.child({ component: 'gateway', gateway: id });
  const clock = deps.clock ?? systemClock;
  const limits: GatewayLimits = { ...DEFAULT_LIMITS, ...deps.limits };
  const metrics = createHalMetrics(deps.registry);
  const js = jetstreamClient(nc);
  const budget = new PublishBudget(limits.maxInFlightGlobal);
  const refusals = createRateLimitedLog(log);
  let owners: SessionOwners | undefined;
  const nodeRegistry = createNodeRegistry({ nc, gatewayId: id, log, metrics, clock, owners: () => owners });
  const connections = new Set<AgentConnection>();
  // Defined here, not beside the upgrade: a closure made there would keep its request (headers and
  // all, ~1.2 KiB) alive for as long as the connection lives. Connections reach it through `shared`.
  const forget = (conn: AgentConnection): void => {
    connections.delete(conn);
  };
  let heartbeatTimer: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  const tick = (): void => {
    for (const conn of connections) conn.checkHeartbeat();
  };
  const conflictAlerts = new Map<string, number>();
  const kvReplicas = deps.kvReplicas ?? config.nats?.replicas;
  const skewAlerted = new Set<string>();
  const enrollments = createEnrollmentWatch({ kv: nodesBucket(nc, config.nats?.replicas), log });
  enrollments.onChange((node, record) => {
    for (const conn of connections) if (conn.node === node) conn.enrollmentChanged(record);
  });
  // maxPayload makes ws refuse frames past the hard cap with 1009 before buffering them whole.
  // Frames between the protocol's maxFrameBytes and the hard cap are still read, so an agent
  // that sends one too-large event gets it refused by seq instead of a close it would loop on.
  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: WS_LIMITS.hardFrameBytes,
    clientTracking: false,
  });
  let server: Server | undefined;
  let accepting = false;
  let shared: ConnectionShared | undefined;

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    socket.on('error', (err) => log.debug({ err }, 'upgrade socket error'));
    try {
      upgrade(req, socket, head);
    } catch (err) {
      // A listener must never throw: a malformed upgrade costs its own socket, nothing more.
      log.error({ err }, 'upgrade failed');
      socket.destroy();
    }
  };

  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const auth = authenticateUpgrade(req, config, enrollments);
    // The copy may be behind the bucket either way: an enrollment made through another gateway a
    // moment ago (the copy would refuse it), or a revoke or rotation (the copy would accept a
    // token the bucket no longer holds, and the socket would live until the watch caught up).
    // Both are read from the bucket before the answer: one KV read per enrolled connect.
    const enrolled = auth.ok && auth.credential.kind === 'enrolled';
    const recheck = auth.ok ? (enrolled ? auth.node : undefined) : auth.staleCopyOf;
    if (recheck !== undefined && accepting) {
      void enrollments.refresh(recheck, { capped: !enrolled }).then(
        () => {
          if (!socket.destroyed) admit(req, socket, head, authenticateUpgrade(req, config, enrollments));
        },
        (err: unknown) => {
          log.error({ err }, 'upgrade failed');
          socket.destroy();
        },
      );
      return;
    }
    admit(req, socket, head, auth);
  };

  const admit = (req: IncomingMessage, socket: Duplex, head: Buffer, auth: AuthResult): void => {
    if (!accepting || shared === undefined) {
      refuseUpgrade(socket, 503, ErrorCode.UNAVAILABLE, 'gateway is stopping');
      return;
    }
    if (!auth.ok) {
      metrics.authFailuresTotal.inc({ surface: 'ws', reason: auth.reason });
      refusals.warn(
        `ws:${auth.reason}`,
        {
          code: auth.code,
          reason: auth.reason,
          remote: req.socket.remoteAddress,
          node: (req.headers['x-hal-node'] as string | undefined)?.slice(0, 64),
          url: req.url?.split('?')[0]?.slice(0, 100),
        },
        'upgrade refused',
      );
      refuseUpgrade(socket, auth.status, auth.code, auth.message);
      return;
    }
    const connShared = shared;
    const node = auth.node;
    const remoteAddress = req.socket.remoteAddress ?? null;
    const credential = auth.credential;
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections.add(new AgentConnection(connShared, ws, node, remoteAddress, credential));
    });
  };

  const createServer = async (): Promise<Server> => {
    const tls = config.security.tls;
    if (!tls.enabled) return createHttpServer();
    return createHttpsServer(await readTlsFiles(tls));
  };

  return {
    id,
    async start() {
      // Enrollments first: an agent accepted before they are loaded could use a revoked token.
      await enrollments.start();
      // Deadlines are read from the clock; the timer only decides how soon a late one is noticed.
      const checkMs = deps.heartbeatCheckMs ?? Math.min(1_000, (config.heartbeat_interval_sec * 1_000) / 4);
      heartbeatTimer = setInterval(tick, checkMs);
      heartbeatTimer.unref();
      // One timer pings every agent, not one per connection (memory per connection, #13).
      pingTimer = setInterval(() => {
        for (const conn of connections) conn.ping();
      }, AGENT_PING_INTERVAL_MS);
      pingTimer.unref();
      const requireNodeTokens = config.security.require_node_tokens === true;
      log[requireNodeTokens ? 'info' : 'warn'](
        { require_node_tokens: requireNodeTokens },
        sharedTokenNotice({ require_node_tokens: requireNodeTokens }),
      );
      owners = await openSessionOwners(nc, {
        // Every bucket follows nats.replicas; kvReplicas is for callers without that config.
        ...(kvReplicas === undefined ? {} : { replicas: kvReplicas }),
      });
      // One object every connection shares (memory per connection, #13).
      shared = {
        gatewayId: id,
        nc,
        js,
        log,
        metrics,
        config,
        limits,
        budget,
        registry: nodeRegistry,
        owners,
        clock,
        conflictAlerts,
        skewAlerted,
        skewThresholdSec: config.alerts?.clock_skew_seconds ?? DEFAULT_CLOCK_SKEW_SECONDS,
        onClosed: forget,
      };
      const srv = await createServer();
      // Plain HTTP on the agent port gets a pointer, not a hang: the API lives on http_port.
      srv.on('request', (_req, res) => {
        res.writeHead(426, { 'content-type': 'application/json', upgrade: 'websocket' });
        res.end(
          JSON.stringify({
            error: { code: ErrorCode.BAD_FRAME, message: 'this port speaks WebSocket only' },
          }),
        );
      });
      srv.on('upgrade', onUpgrade);
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(config.server.port, config.server.host, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      srv.on('error', (err) => log.error({ err }, 'gateway server error'));
      server = srv;
      accepting = true;
      deps.readiness?.register('gateway-ws', () =>
        accepting && srv.listening ? { ok: true } : { ok: false, detail: 'agent WebSocket not listening' },
      );
      log.info(
        { port: (srv.address() as AddressInfo).port, tls: config.security.tls.enabled },
        'gateway listening',
      );
    },
    async stop() {
      if (server === undefined) return;
      const srv = server;
      server = undefined;
      accepting = false;
      deps.readiness?.unregister('gateway-ws');
      clearInterval(heartbeatTimer);
      clearInterval(pingTimer);
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
      // Close agents first: each publishes node.offline while NATS is still ours to use.
      const grace = deps.stopGraceMs ?? 2_000;
      for (const conn of connections) conn.shutdown(grace);
      await Promise.allSettled([...connections].map((c) => c.closed()));
      await nodeRegistry.stop();
      await enrollments.stop();
      srv.closeAllConnections();
      await closed;
      log.info('gateway stopped');
    },
    tick,
    nodes: () => nodeRegistry.nodes(),
    connectionStats: (node) => [...connections].filter((c) => c.node === node).map((c) => c.ingestStats()),
    address() {
      const addr = server?.address();
      if (addr === null || addr === undefined || typeof addr === 'string')
        throw new Error('gateway is not listening');
      return { port: addr.port };
    },
  };
}

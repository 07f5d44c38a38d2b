import { setTimeout as sleep } from 'node:timers/promises';
import {
  type BusAuth,
  ensureStreams,
  isPermissionViolation,
  isTransientNatsError,
  type NatsConnection,
  streamsReadinessCheck,
} from '@hal/bus';
import type { NatsConfig, SupervisorConfig } from '@hal/config';
import {
  backoffDelay,
  type Clock,
  createHalMetrics,
  type Lifecycle,
  type Logger,
  Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
import { NatsUser } from '@hal/protocol';
import { type BusPart, busPart } from './bus-part.ts';
import { createHealthServer, type HealthServer } from './health-server.ts';
import {
  createLifecycleGroup,
  deferredPart,
  type LifecycleGroup,
  type LifecyclePart,
} from './lifecycle-group.ts';
import { streamLimitsFor } from './stream-limits.ts';

/** What every service module gets, whether it runs on its own or inside hal-supervisor. */
export interface ServiceDeps {
  config: SupervisorConfig;
  nc: NatsConnection;
  log: Logger;
  registry: Registry;
  readiness: Readiness;
  clock: Clock;
  /** Boolean flags of the command line (`--rebuild`); all false inside the supervisor. */
  flags: Readonly<Record<string, boolean>>;
}

export interface ServiceEntry {
  /** `component` in logs; the service's logger inside the supervisor. */
  name: string;
  /**
   * True for the service that owns server.http_port (the gateway's API): it serves /healthz,
   * /readyz and /metrics itself, so the process's own health server stays off.
   */
  servesHttp?: boolean;
  /** The NATS user it connects as when the process has one per service (the embedded server). */
  natsUser: NatsUser;
  create(deps: ServiceDeps): Lifecycle;
}

export interface ControlPlaneOptions {
  config: SupervisorConfig;
  log: Logger;
  registry: Registry;
  readiness?: Readiness;
  clock?: Clock;
  /** Started in this order, stopped in reverse. */
  services: readonly ServiceEntry[];
  /** NATS connection name: `hal-supervisor`, `hal-tracker`, … */
  connectionName: string;
  /** The NATS URL, read once the parts in `before` run (an embedded server picks its port). */
  natsUrl: () => string;
  /** Parts that run before the NATS connection: the embedded nats-server. */
  before?: readonly LifecyclePart[];
  /**
   * Credentials per NATS user, read once the parts in `before` run. Given (the embedded
   * server), the process connects as `supervisor` and every service on a connection of its
   * own as its own user, so the server enforces each one's permissions. Absent, everything
   * shares one connection with the credentials of `nats` in the config.
   */
  credentials?: (user: NatsUser) => BusAuth;
  /** Default: `log` for every service. */
  loggerFor?: (service: string) => Logger;
  flags?: Readonly<Record<string, boolean>>;
  /** A standalone service started before NATS waits for it instead of crash-looping. */
  waitOnFirstConnect?: boolean;
}

export interface ControlPlane extends LifecycleGroup {
  readonly readiness: Readiness;
  /** Port of the process's own health server (0 when a service serves HTTP). */
  healthPort(): number;
}

/**
 * A control-plane process, whether one service (hal-tracker) or all of them (hal-supervisor):
 * health endpoints → [embedded NATS] → NATS connection → streams → services in order. Not
 * ready until the last service has started; stopped in reverse, so services drain while NATS
 * is still up and the connection is drained last.
 */
export function createControlPlane(opts: ControlPlaneOptions): ControlPlane {
  const { config, log, registry } = opts;
  const readiness = opts.readiness ?? new Readiness();
  const clock = opts.clock ?? systemClock;
  const metrics = createHalMetrics(registry);
  const health: HealthServer | undefined = opts.services.some((s) => s.servesHttp)
    ? undefined
    : createHealthServer({
        host: config.server.http_host,
        port: config.server.http_port,
        readiness,
        registry,
        metricsPublic: config.server.metrics_public,
        authToken: config.server.auth_token,
        log,
      });
  const credentials = opts.credentials;
  // Set by stop(): a start waiting out a busy cluster gives up at once instead of holding the stop.
  const stopRequested = new AbortController();
  const settling = (part: LifecyclePart) => retryWhileSettling(part, { log, signal: stopRequested.signal });
  const connection = (partName: string, connectionName: string, auth: () => BusAuth | undefined) =>
    busPart({
      partName,
      connectionName,
      url: opts.natsUrl,
      auth,
      log,
      readiness,
      waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
      onReconnect: () => metrics.natsReconnectsTotal.inc(),
    });
  const bus: BusPart = connection('nats', opts.connectionName, () =>
    credentials === undefined ? busAuthOf(config.nats) : credentials(NatsUser.SUPERVISOR),
  );
  const streams: LifecyclePart = {
    name: 'streams',
    async start() {
      try {
        await ensureStreams(bus.nc(), streamLimitsFor(config));
      } catch (err) {
        // A standalone service on a NATS whose operator lets only one user change streams:
        // run with the streams as they are rather than not at all, and say what is missing.
        if (!isPermissionViolation(err)) throw err;
        log.warn(
          { err },
          'stream limits from the config not applied: this NATS user may not update the HAL streams',
        );
        await ensureStreams(bus.nc());
      }
      readiness.register('streams', streamsReadinessCheck(bus.nc()));
    },
    async stop() {},
  };
  const services = opts.services.flatMap((entry) => {
    // Its own connection, started just before it and stopped just after it.
    const own =
      credentials === undefined
        ? undefined
        : connection(`nats.${entry.name}`, `hal-${entry.name}`, () => credentials(entry.natsUser));
    const service = settling(
      deferredPart(entry.name, () =>
        entry.create({
          config,
          nc: (own ?? bus).nc(),
          log: opts.loggerFor?.(entry.name) ?? log,
          registry,
          readiness,
          clock,
          flags: opts.flags ?? {},
        }),
      ),
    );
    return own === undefined ? [service] : [own, service];
  });
  const parts: LifecyclePart[] = [
    ...(health === undefined
      ? []
      : [{ name: 'health', start: () => health.start(), stop: () => health.stop() }]),
    ...(opts.before ?? []),
    bus,
    settling(streams),
    ...services,
  ];
  const group = createLifecycleGroup(parts, { log, readiness });
  return {
    ...group,
    stop() {
      stopRequested.abort();
      return group.stop();
    },
    readiness,
    healthPort: () => health?.port() ?? 0,
  };
}

/** How long a part's start is retried while NATS says "not now", before the process gives up. */
const SETTLE_WINDOW_MS = 120_000;
const SETTLE_BACKOFF = { initialMs: 250, maxMs: 5_000 };

/**
 * A part whose start is tried again when it failed for a reason that passes on its own (a JetStream
 * API call timed out while a cluster elects its meta leader, or a dozen services create their
 * replicated consumers and buckets at once on a loaded host). What it had started is stopped
 * first, so each try begins clean. Any other failure, or one still there after the window, ends
 * the start as before: the process exits 1 and systemd or Kubernetes restarts it.
 */
function retryWhileSettling(
  part: LifecyclePart,
  opts: { log: Logger; signal: AbortSignal; windowMs?: number },
): LifecyclePart {
  return {
    name: part.name,
    async start() {
      const deadline = performance.now() + (opts.windowMs ?? SETTLE_WINDOW_MS);
      for (let attempt = 0; ; attempt += 1) {
        try {
          await part.start();
          return;
        } catch (err) {
          const delayMs = backoffDelay(attempt, SETTLE_BACKOFF, Math.random);
          if (!isTransientNatsError(err) || opts.signal.aborted || performance.now() + delayMs > deadline)
            throw err;
          opts.log.warn(
            { err, component: part.name, attempt: attempt + 1, retry_in_ms: delayMs },
            'start failed while NATS is busy; trying again',
          );
          await part
            .stop()
            .catch((stopErr: unknown) =>
              opts.log.warn({ err: stopErr, component: part.name }, 'stopping the half-started part failed'),
            );
          // Rejects when stop() aborts the wait: handled just below.
          await sleep(delayMs, undefined, { signal: opts.signal }).catch(() => undefined);
          // Stopping: nothing of it runs now, and the group starts no more parts.
          if (opts.signal.aborted) return;
        }
      }
    },
    stop: () => part.stop(),
  };
}

/** The credentials of `nats` in the config, for a NATS of nats.url (the schema allows one way). */
export function busAuthOf(nats: NatsConfig): BusAuth | undefined {
  if (nats.token !== undefined) return { token: nats.token };
  if (nats.user !== undefined && nats.password !== undefined)
    return { user: nats.user, password: nats.password };
  if (nats.creds !== undefined) return { creds: nats.creds };
  if (nats.nkey_seed !== undefined) return { nkeySeed: nats.nkey_seed };
  return undefined;
}

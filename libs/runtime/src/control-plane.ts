import {
  type BusAuth,
  ensureStreams,
  isPermissionViolation,
  type NatsConnection,
  streamsReadinessCheck,
} from '@hal/bus';
import type { NatsConfig, SupervisorConfig } from '@hal/config';
import {
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
    const service = deferredPart(entry.name, () =>
      entry.create({
        config,
        nc: (own ?? bus).nc(),
        log: opts.loggerFor?.(entry.name) ?? log,
        registry,
        readiness,
        clock,
        flags: opts.flags ?? {},
      }),
    );
    return own === undefined ? [service] : [own, service];
  });
  const parts: LifecyclePart[] = [
    ...(health === undefined
      ? []
      : [{ name: 'health', start: () => health.start(), stop: () => health.stop() }]),
    ...(opts.before ?? []),
    bus,
    streams,
    ...services,
  ];
  const group = createLifecycleGroup(parts, { log, readiness });
  return { ...group, readiness, healthPort: () => health?.port() ?? 0 };
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

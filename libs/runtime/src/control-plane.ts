import { ensureStreams, type NatsConnection, streamsReadinessCheck } from '@hal/bus';
import type { SupervisorConfig } from '@hal/config';
import {
  type Clock,
  createHalMetrics,
  type Lifecycle,
  type Logger,
  Readiness,
  type Registry,
  systemClock,
} from '@hal/observability';
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
  const bus: BusPart = busPart({
    partName: 'nats',
    url: opts.natsUrl,
    name: opts.connectionName,
    log,
    readiness,
    token: config.nats.token,
    waitOnFirstConnect: opts.waitOnFirstConnect ?? false,
    onReconnect: () => metrics.natsReconnectsTotal.inc(),
  });
  const streams: LifecyclePart = {
    name: 'streams',
    async start() {
      await ensureStreams(bus.nc(), streamLimitsFor(config));
      readiness.register('streams', streamsReadinessCheck(bus.nc()));
    },
    async stop() {},
  };
  const services = opts.services.map((entry) =>
    deferredPart(entry.name, () =>
      entry.create({
        config,
        nc: bus.nc(),
        log: opts.loggerFor?.(entry.name) ?? log,
        registry,
        readiness,
        clock,
        flags: opts.flags ?? {},
      }),
    ),
  );
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

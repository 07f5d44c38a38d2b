import type { NatsConnection } from '@hal/bus';
import type { SupervisorConfig } from '@hal/config';
import { createCostPoller } from '@hal/cost-poller';
import { createDiscordBridge, notConfiguredBridge } from '@hal/discord-bridge';
import { createGateway, createHttpApi } from '@hal/gateway';
import type { Clock, HalMetrics, Lifecycle, Logger, Readiness, Registry } from '@hal/observability';
import { createPolicy } from '@hal/policy';
import { createTracker } from '@hal/tracker';

/** What every service module gets when the supervisor runs it in-process. */
export interface ServiceDeps {
  config: SupervisorConfig;
  nc: NatsConnection;
  /** A child logger with `component: <service name>`. */
  log: Logger;
  registry: Registry;
  metrics: HalMetrics;
  readiness: Readiness;
  /** Absolute `data_dir` (it exists); each service keeps its own SQLite file under it. */
  dataDir: string;
  clock: Clock;
}

export interface ServiceEntry {
  name: string;
  /**
   * True for the service that owns server.http_port (the gateway): it serves /healthz, /readyz
   * and /metrics itself, so the supervisor's own health server stays off.
   */
  servesHttp?: boolean;
  create(deps: ServiceDeps): Lifecycle;
}

/**
 * The services run by `hal-supervisor`, started in this order and stopped in reverse. A service
 * that is not built yet is simply absent from the list — never a stub that pretends to work.
 * The tracker starts before the gateway so that the first events agents send after a restart
 * are projected at once; the gateway stops first so no agent writes while the rest drains.
 */
export const SERVICES: readonly ServiceEntry[] = [
  {
    name: 'tracker',
    create: ({ config, nc, log, registry, readiness, clock }) =>
      createTracker({ config, nc, log, registry, readiness, clock }),
  },
  {
    name: 'cost-poller',
    create: ({ config, nc, log, registry, readiness, clock, dataDir }) =>
      createCostPoller({
        config: { data_dir: dataDir, cost: config.cost },
        nc,
        log,
        registry,
        readiness,
        clock,
      }),
  },
  {
    name: 'policy',
    create: ({ config, nc, log, registry, readiness, clock }) =>
      createPolicy({ config, nc, log, registry, readiness, clock }),
  },
  {
    name: 'gateway',
    create: ({ config, nc, log, registry, readiness, clock }) =>
      createGateway({ config, nc, log, registry, readiness, clock }),
  },
  {
    // After the gateway: its buttons and commands act through agents the gateway holds.
    name: 'discord-bridge',
    create: ({ config, nc, log, readiness }) =>
      config.channels.discord
        ? createDiscordBridge({
            config: { discord: config.channels.discord, audit: config.security.audit },
            nc,
            log,
            readiness,
          })
        : notConfiguredBridge(readiness),
  },
  {
    // Last in, first out: the API stops taking requests before anything behind it stops.
    name: 'http-api',
    servesHttp: true,
    create: ({ config, nc, log, registry, readiness }) =>
      createHttpApi({ config, nc, log, registry, readiness }),
  },
];

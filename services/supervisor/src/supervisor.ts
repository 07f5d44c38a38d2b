import { hostname } from 'node:os';
import type { SupervisorConfig } from '@hal/config';
import { type Clock, createLogger, type Logger, type Registry } from '@hal/observability';
import { type ControlPlane, createControlPlane, type LifecyclePart, type ServiceEntry } from '@hal/runtime';
import { createEmbeddedNats, type EmbeddedNats } from './embedded-nats.ts';
import { SERVICES } from './services.ts';

export interface SupervisorDeps {
  config: SupervisorConfig;
  log: Logger;
  registry: Registry;
  clock?: Clock;
  /** Default: SERVICES. */
  services?: readonly ServiceEntry[];
  /**
   * The logger of each in-process service. Default: a logger of its own with `service` set to
   * the service's name and `node` to this host, at the supervisor's level — so a line reads the
   * same whether the service runs here or on its own.
   */
  loggerFor?: (service: string) => Logger;
  /** nats-server binary for the embedded server (tests may point elsewhere). */
  natsBinary?: string;
}

export interface Supervisor extends ControlPlane {
  /** The embedded nats-server, when nats.url is not set. */
  readonly embeddedNats: EmbeddedNats | undefined;
}

/**
 * Everything in one process: the control plane of @hal/runtime with every service in it, plus
 * an embedded nats-server (started before the NATS connection, stopped after it) when no
 * nats.url is configured.
 */
export function createSupervisor(deps: SupervisorDeps): Supervisor {
  const { config, log } = deps;
  const embeddedNats =
    config.nats.url === undefined
      ? createEmbeddedNats({
          dataDir: config.data_dir,
          port: config.nats.embedded_port,
          memoryLimitMib: config.nats.embedded_memory_limit_mib,
          log,
          ...(deps.natsBinary === undefined ? {} : { binary: deps.natsBinary }),
        })
      : undefined;
  const before: LifecyclePart[] =
    embeddedNats === undefined
      ? []
      : [{ name: 'embedded-nats', start: () => embeddedNats.start(), stop: () => embeddedNats.stop() }];
  const plane = createControlPlane({
    config,
    log,
    registry: deps.registry,
    ...(deps.clock === undefined ? {} : { clock: deps.clock }),
    services: deps.services ?? SERVICES,
    connectionName: 'hal-supervisor',
    natsUrl: () => config.nats.url ?? embeddedNats?.url ?? '',
    before,
    ...(embeddedNats === undefined ? {} : { credentials: (user) => embeddedNats.credentials(user) }),
    loggerFor:
      deps.loggerFor ?? ((service: string) => createLogger({ service, node: hostname(), level: log.level })),
  });
  if (embeddedNats !== undefined && config.nats.token !== undefined) {
    log.warn(
      { key: 'nats.token' },
      'nats.token is ignored: the embedded nats-server has one generated user per service (data_dir/nats-credentials.json)',
    );
  }
  return { ...plane, embeddedNats };
}

import { createRegistry } from '@hal/observability';
import { createControlPlane, type ServiceEntry } from './control-plane.ts';
import { runProcess } from './run-process.ts';

export interface StandaloneSpec {
  /** `tracker` → binary `hal-tracker`, NATS connection name `hal-tracker`, log field service=tracker. */
  name: string;
  /** Boolean flags beyond --config and --validate, with their help text. */
  flags?: Readonly<Record<string, string>>;
  /** The service's parts, started in order and stopped in reverse. */
  services: readonly ServiceEntry[];
}

/**
 * The `main` of a service run on its own (one systemd unit or k8s Deployment per service): the
 * same control plane as hal-supervisor with only this service in it, on a configured NATS.
 */
export function runService(spec: StandaloneSpec, argv?: readonly string[]): Promise<void> {
  return runProcess(
    {
      name: spec.name,
      role: 'supervisor',
      summary: `Runs the HAL-O-SWARM ${spec.name} on its own, on the NATS of nats.url.`,
      ...(spec.flags === undefined ? {} : { flags: spec.flags }),
      problems: (config) =>
        config.nats.url === undefined
          ? [
              {
                path: 'nats.url',
                message: 'required when a service runs on its own (only hal-supervisor embeds NATS)',
              },
            ]
          : [],
      create: ({ config, log, flags }) => {
        const url = config.nats.url ?? '';
        return createControlPlane({
          config,
          log,
          registry: createRegistry(),
          services: spec.services,
          connectionName: `hal-${spec.name}`,
          natsUrl: () => url,
          flags,
          // A service started before NATS (systemd ordering, a k8s rollout) waits instead of crash-looping.
          waitOnFirstConnect: true,
        });
      },
    },
    argv,
  );
}

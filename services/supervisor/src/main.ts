import { createRegistry } from '@hal/observability';
import { runProcess } from '@hal/runtime';
import { createSupervisor } from './supervisor.ts';

/** `hal-supervisor [--config FILE] [--validate]`: wiring only — the lifecycle is @hal/runtime's. */
await runProcess({
  name: 'supervisor',
  role: 'supervisor',
  summary: 'Runs every HAL-O-SWARM service in one process (and nats-server, when nats.url is not set).',
  create: ({ config, log }) => createSupervisor({ config, log, registry: createRegistry() }),
});

import { NatsUser } from '@hal/protocol';
import { runService } from '@hal/runtime';
import { createTracker } from './tracker.ts';

/** `hal-tracker [--config FILE] [--validate] [--rebuild]`: the tracker on its own. */
await runService({
  name: 'tracker',
  flags: { rebuild: 'empty every table and replay HAL_EVENTS from the start' },
  services: [
    {
      name: 'tracker',
      natsUser: NatsUser.TRACKER,
      create: ({ flags, ...deps }) => createTracker({ ...deps, rebuild: flags.rebuild === true }),
    },
  ],
});

import { NatsUser } from '@hal/protocol';
import { runService } from '@hal/runtime';
import { createPolicy } from './policy-service.ts';

/** `hal-policy [--config FILE] [--validate]`: the policy engine and notification router on its own. */
await runService({
  name: 'policy',
  services: [{ name: 'policy', natsUser: NatsUser.POLICY, create: (deps) => createPolicy(deps) }],
});

import { NatsUser } from '@hal/protocol';
import { runService } from '@hal/runtime';
import { createCostPoller } from './cost-poller.ts';

/** `hal-cost-poller [--config FILE] [--validate]`: provider billing, session spend and budgets on their own. */
await runService({
  name: 'cost-poller',
  services: [
    { name: 'cost-poller', natsUser: NatsUser.COST_POLLER, create: (deps) => createCostPoller(deps) },
  ],
});

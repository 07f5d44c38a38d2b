import { createCostPoller } from '@hal/cost-poller';
import { discordBridgeService } from '@hal/discord-bridge';
import { createGateway, createHttpApi } from '@hal/gateway';
import { createPolicy } from '@hal/policy';
import { NatsUser } from '@hal/protocol';
import type { ServiceEntry } from '@hal/runtime';
import { createTracker } from '@hal/tracker';

/**
 * The services run by `hal-supervisor`, started in this order and stopped in reverse. A service
 * that is not built yet is simply absent from the list — never a stub that pretends to work.
 * The tracker starts before the gateway so that the first events agents send after a restart
 * are projected at once; the gateway stops first so no agent writes while the rest drains.
 */
export const SERVICES: readonly ServiceEntry[] = [
  { name: 'tracker', natsUser: NatsUser.TRACKER, create: (deps) => createTracker(deps) },
  { name: 'cost-poller', natsUser: NatsUser.COST_POLLER, create: (deps) => createCostPoller(deps) },
  { name: 'policy', natsUser: NatsUser.POLICY, create: (deps) => createPolicy(deps) },
  { name: 'gateway', natsUser: NatsUser.GATEWAY, create: (deps) => createGateway(deps) },
  // After the gateway: its buttons and commands act through agents the gateway holds.
  discordBridgeService,
  // Last in, first out: the API stops taking requests before anything behind it stops.
  {
    name: 'http-api',
    servesHttp: true,
    natsUser: NatsUser.GATEWAY,
    create: ({ clock: _, ...deps }) => createHttpApi(deps),
  },
];

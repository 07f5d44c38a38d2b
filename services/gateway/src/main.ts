import { NatsUser } from '@hal/protocol';
import { runService } from '@hal/runtime';
import { createGateway } from './gateway.ts';
import { createHttpApi } from './http-server.ts';

/**
 * `hal-gateway [--config FILE] [--validate]`: agent WebSockets on server.port and the HTTP API
 * (with /healthz, /readyz, /metrics) on server.http_port. The API is listed last so it stops
 * first: no new commands arrive while the agents' sockets close.
 */
await runService({
  name: 'gateway',
  services: [
    { name: 'gateway', natsUser: NatsUser.GATEWAY, create: (deps) => createGateway(deps) },
    {
      name: 'http-api',
      servesHttp: true,
      natsUser: NatsUser.GATEWAY,
      create: ({ clock: _, ...deps }) => createHttpApi(deps),
    },
  ],
});

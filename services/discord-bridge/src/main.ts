import { NatsUser } from '@hal/protocol';
import { runService } from '@hal/runtime';
import { createDiscordBridge, notConfiguredBridge } from './discord-bridge.ts';

/** `hal-discord-bridge [--config FILE] [--validate]`: the Discord bot on its own. */
await runService({
  name: 'discord-bridge',
  services: [
    {
      name: 'discord-bridge',
      natsUser: NatsUser.DISCORD_BRIDGE,
      create: ({ config, nc, log, readiness, registry }) =>
        config.channels.discord
          ? createDiscordBridge({
              config: {
                discord: config.channels.discord,
                audit: config.security.audit,
                nats: config.nats,
                instances: config.instances,
                instance_id: config.instance_id,
              },
              nc,
              log,
              readiness,
              registry,
            })
          : notConfiguredBridge(readiness),
    },
  ],
});

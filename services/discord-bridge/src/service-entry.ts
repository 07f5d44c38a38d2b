import { NatsUser } from '@hal/protocol';
import type { ServiceEntry } from '@hal/runtime';
import { createDiscordBridge, notConfiguredBridge } from './discord-bridge.ts';

/**
 * The bridge as a service of `hal-discord-bridge` and `hal-supervisor` alike: the bot when
 * `channels.discord` is set, otherwise a placeholder that says so on `/readyz`.
 */
export const discordBridgeService: ServiceEntry = {
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
};

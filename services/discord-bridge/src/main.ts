import { runService } from '@hal/runtime';
import { discordBridgeService } from './service-entry.ts';

/** `hal-discord-bridge [--config FILE] [--validate]`: the Discord bot on its own. */
await runService({ name: 'discord-bridge', services: [discordBridgeService] });

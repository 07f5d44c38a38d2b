// The public surface of @hal/discord-bridge: the service module the supervisor composes.
export { type AlertRecord, AlertVerb, nonceOf, renderAlert, verbsOf } from './alerts.ts';
export {
  BridgeConsumer,
  createDiscordBridge,
  type DiscordBridge,
  type DiscordBridgeDeps,
  notConfiguredBridge,
} from './discord-bridge.ts';
export { clip, embed, LIMITS, paginate } from './embeds.ts';
export { principalOf } from './member-roles.ts';
export { SLASH_COMMANDS } from './slash-commands.ts';

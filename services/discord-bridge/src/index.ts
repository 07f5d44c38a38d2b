// The public surface of @hal/discord-bridge: the service module the supervisor composes.
export { nonceOf, renderAlert } from './alert-render.ts';
export { createDiscordBridge, type DiscordBridge } from './discord-bridge.ts';
export { clip, embed, LIMITS, paginate } from './embeds.ts';
export { discordBridgeService } from './service-entry.ts';

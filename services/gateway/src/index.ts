// The public surface of @hal/gateway (WebSocket side): the supervisor and main.ts build it from here.

export { createGateway, type Gateway } from './gateway.ts';
export type { GatewayConfig, GatewayLimits } from './gateway-config.ts';
export { createHttpApi } from './http-server.ts';

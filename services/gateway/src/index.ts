// The public surface of @hal/gateway (WebSocket side): the supervisor and main.ts build it from here.

export { createGateway, type Gateway, type GatewayDeps } from './gateway.ts';
export { DEFAULT_LIMITS, type GatewayConfig, type GatewayLimits } from './gateway-config.ts';
export { createHttpApi, type HttpApi, type HttpApiConfig, type HttpApiDeps } from './http-server.ts';
export type { NodeInfo } from './node-registry.ts';

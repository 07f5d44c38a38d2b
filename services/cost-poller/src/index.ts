// The public surface of @hal/cost-poller: the service module the supervisor composes.
export {
  type CostPoller,
  type CostPollerConfig,
  type CostPollerDeps,
  createCostPoller,
} from './cost-poller.ts';
export { DEFAULT_RETRY, type RetryPolicy } from './providers/provider-http.ts';

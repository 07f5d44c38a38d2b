// The public surface of @hal/cost-poller: the service module the supervisor composes.
export {
  type CostPoller,
  createCostPoller,
} from './cost-poller.ts';

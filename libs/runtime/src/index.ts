// The public surface of @hal/runtime: how a HAL process starts, reports health and stops.
// The process lifecycle alone (for hal-agent) is the second door, `@hal/runtime/process`.
export {
  type ControlPlane,
  createControlPlane,
  type ServiceEntry,
} from './control-plane.ts';
export { createHealthServer } from './health-server.ts';
export type { LifecyclePart } from './lifecycle-group.ts';
export { runProcess } from './run-process.ts';
export { runService } from './run-service.ts';
export { streamLimitsFor } from './stream-limits.ts';

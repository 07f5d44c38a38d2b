// The public surface of @hal/runtime: how a HAL process starts, reports health and stops.
// The process lifecycle alone (for hal-agent) is the second door, `@hal/runtime/process`.
export {
  type ControlPlane,
  type ControlPlaneOptions,
  createControlPlane,
  type ServiceDeps,
  type ServiceEntry,
} from './control-plane.ts';
export { createHealthServer, type HealthServer, type HealthServerOptions } from './health-server.ts';
export type { LifecyclePart } from './lifecycle-group.ts';
export { type ProcessContext, type ProcessSpec, runProcess, STOP_DEADLINE_MS } from './run-process.ts';
export { runService, type StandaloneSpec } from './run-service.ts';
export { streamLimitsFor } from './stream-limits.ts';

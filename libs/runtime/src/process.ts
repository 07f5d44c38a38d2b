// The second public door of @hal/runtime: the process lifecycle alone, without the control
// plane. hal-agent imports this one: the full door loads fastify and nats.js (~24 MB of RSS at
// start, measured), which an agent on every host must not carry for nothing.
export {
  createLifecycleGroup,
  LIFECYCLE_CHECK,
  type LifecyclePart,
} from './lifecycle-group.ts';
export { runProcess } from './run-process.ts';

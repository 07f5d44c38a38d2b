// The public surface of @hal/tracker: the service module the supervisor composes.
export { createTracker, type Tracker, type TrackerDeps } from './tracker.ts';

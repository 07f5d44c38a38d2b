/** The contract every service module honours, so the supervisor can run them all alike. */
export interface Lifecycle {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Time source passed into modules, so tests can drive time without sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

export { NATS_NOT_FOUND_MESSAGE, type NatsServer, type StartNatsOptions, startNats } from './nats.ts';
export { freePort } from './net.ts';
export { type WaitForOptions, waitFor } from './wait-for.ts';

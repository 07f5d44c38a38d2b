import type { EnvManifestStore, JetStreamClient, NatsConnection } from '@hal/bus';
import type { SessionCommands, TrackerClient } from '@hal/commands';
import type { Logger } from '@hal/observability';
import type { EnrollmentStore } from '../enrollment-store.ts';

/** What the route modules need; built once by createHttpApi. */
export interface ApiDeps {
  nc: NatsConnection;
  js: JetStreamClient;
  tracker: TrackerClient;
  commands: SessionCommands;
  enrollments: EnrollmentStore;
  log: Logger;
  sseHeartbeatMs: number;
  /** Enders of the open SSE streams, called on stop. */
  openStreams: Set<() => void>;
  /** The environment manifest's KV bucket, opened (and created) on first use. */
  envManifest(): Promise<EnvManifestStore>;
  /** Open SSE streams per token name, capped at maxStreamsPerToken. */
  streamsPerToken: Map<string, number>;
  maxStreamsPerToken: number;
}

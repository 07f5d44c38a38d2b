import type { StreamLimits } from '@hal/bus';
import type { SupervisorConfig } from '@hal/config';

/**
 * The stream limits a deployment asks for, from its config. Only the process that owns the
 * deployment's config (the supervisor, or each standalone service's runtime) applies them;
 * services that merely need the streams to exist call `ensureStreams(nc)` without limits and
 * so never reset a retention someone configured.
 *
 * HAL_EVENTS keeps events at least as long as the tracker keeps its index, so a `--rebuild`
 * restores the whole retained history rather than a shorter window.
 */
export function streamLimitsFor(config: Pick<SupervisorConfig, 'security' | 'nats'>): StreamLimits {
  const days = config.security.audit.retention_days;
  return {
    eventsMaxAgeDays: Math.max(30, days),
    auditMaxAgeDays: days,
    replicas: config.nats.replicas,
    duplicateWindowSec: config.nats.duplicate_window_sec,
  };
}

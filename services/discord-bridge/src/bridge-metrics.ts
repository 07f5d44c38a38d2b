import { createHalMetrics, type Registry } from '@hal/observability';
import { type REST, RESTEvents } from 'discord.js';

/** What happened to one alert (HAL_NOTIFY message). */
export const NotificationOutcome = {
  POSTED: 'posted',
  EDITED: 'edited',
  FAILED: 'failed',
  SKIPPED: 'skipped',
} as const;
export type NotificationOutcome = (typeof NotificationOutcome)[keyof typeof NotificationOutcome];

/** How one interaction ended for this instance. */
export const InteractionOutcome = {
  OK: 'ok',
  ERROR: 'error',
  REFUSED: 'refused',
  /** Another instance acknowledged it first (Discord answered 40060 to this one). */
  TAKEN: 'taken',
} as const;
export type InteractionOutcome = (typeof InteractionOutcome)[keyof typeof InteractionOutcome];

const SCOPES = new Set(['user', 'global', 'shared']);

export interface BridgeMetrics {
  notification(outcome: NotificationOutcome): void;
  interaction(kind: 'command' | 'button' | 'autocomplete', outcome: InteractionOutcome): void;
  /** Counts the 429s Discord answers on this REST client. */
  watchRest(rest: REST): void;
}

/**
 * The bridge's `hal_o_swarm_discord_*` counters on the process registry (`/metrics`, like every
 * service). Without a registry (some tests) every call is a no-op.
 */
export function createBridgeMetrics(registry: Registry | undefined): BridgeMetrics {
  if (!registry) return { notification() {}, interaction() {}, watchRest() {} };
  const m = createHalMetrics(registry);
  return {
    notification: (outcome) => m.discordNotificationsTotal.inc({ outcome }),
    interaction: (kind, outcome) => m.discordInteractionsTotal.inc({ kind, outcome }),
    watchRest(rest) {
      rest.on(RESTEvents.Response, (_request, response) => {
        if (response.status !== 429) return;
        // The header comes from Discord (or a proxy): only its known values become labels.
        const scope = response.headers.get('x-ratelimit-scope') ?? 'user';
        m.discordRateLimitsTotal.inc({ scope: SCOPES.has(scope) ? scope : 'other' });
      });
    },
  };
}

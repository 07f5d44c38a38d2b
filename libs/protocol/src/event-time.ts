import type { EventRecord } from './events.ts';

/**
 * Which clock decides. Hosts' clocks are skewed (laptops, VMs, WSL), so no decision is timed by
 * the `time` a host wrote: the gateway stamps every event it accepts with `received_at` (the
 * control plane's clock) and the node's measured skew (`host_skew_ms`), and every decision reads
 * `controlPlaneTime()`. The host's `time` stays on the record for display.
 */

/** Fields only the gateway writes; an agent's record carrying one is refused. */
export const GATEWAY_STAMPED_FIELDS = ['received_at', 'host_skew_ms'] as const;

/**
 * An event whose skew-corrected host time is more than this before its `received_at` waited
 * somewhere (the agent's spool, during a disconnect): it is timed by its corrected host time, so
 * five errors an hour apart stay an hour apart. Closer than this it is live, and `received_at`
 * decides. Batching and a busy event loop delay live events by well under this.
 */
export const BACKLOG_GAP_MS = 5_000;

function parse(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * A time the host wrote inside an event's data (opencode's next retry, a limit's reset), moved
 * onto the control plane's clock by the node's skew measured when the event was received.
 */
export function hostTimeOnControlPlane(
  iso: string | undefined,
  event: Pick<EventRecord, 'host_skew_ms'>,
): number | undefined {
  const t = parse(iso);
  return t === undefined ? undefined : t - (event.host_skew_ms ?? 0);
}

/**
 * When an event happened by the control plane's clock (ms since epoch), for every decision that
 * depends on time; undefined when the record has no readable time at all.
 *
 * - Live events: `received_at`.
 * - A backlog resent after a disconnect: the host's `time` corrected by the node's skew.
 * - Records without `received_at` (stored before it existed, or written by the control plane
 *   itself, whose clock is the reference): `time`.
 */
export function controlPlaneTime(
  event: Pick<EventRecord, 'time' | 'received_at' | 'host_skew_ms'>,
): number | undefined {
  const host = parse(event.time);
  const received = parse(event.received_at);
  if (received === undefined) return host;
  if (host === undefined || event.host_skew_ms === undefined) return received;
  const corrected = host - event.host_skew_ms;
  return received - corrected > BACKLOG_GAP_MS ? corrected : received;
}

import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface RegistryOptions {
  /** Node process metrics (heap, event loop lag, …); on unless a test wants a bare registry. */
  defaultMetrics?: boolean;
  /** Prefix for the default metrics only; the `hal_o_swarm_*` names are fixed by the README. */
  prefix?: string;
}

/** A fresh registry, never the global one, so every test and every process owns its own. */
export function createRegistry(opts: RegistryOptions = {}): Registry {
  const registry = new Registry();
  if (opts.defaultMetrics ?? true) {
    collectDefaultMetrics(
      opts.prefix === undefined ? { register: registry } : { register: registry, prefix: opts.prefix },
    );
  }
  return registry;
}

function buildHalMetrics(registry: Registry) {
  const registers = [registry];
  return {
    connectionsActive: new Gauge({
      name: 'hal_o_swarm_connections_active',
      help: 'Agent WebSocket connections currently open on this gateway',
      registers,
    }),
    eventsTotal: new Counter({
      name: 'hal_o_swarm_events_total',
      help: 'Events accepted into HAL_EVENTS, by event type',
      labelNames: ['type'] as const,
      registers,
    }),
    eventsRejectedTotal: new Counter({
      name: 'hal_o_swarm_events_rejected_total',
      help: 'Events refused at the boundary, by error code',
      labelNames: ['code'] as const,
      registers,
    }),
    commandsTotal: new Counter({
      name: 'hal_o_swarm_commands_total',
      help: 'Commands handled, by command type and outcome status',
      labelNames: ['type', 'status'] as const,
      registers,
    }),
    commandDuration: new Histogram({
      name: 'hal_o_swarm_command_duration_seconds',
      help: 'Command round trip from request to result, by command type',
      labelNames: ['type'] as const,
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    sessionsActive: new Gauge({
      name: 'hal_o_swarm_sessions_active',
      help: 'Tracked sessions, by session state',
      labelNames: ['state'] as const,
      registers,
    }),
    nodesOnline: new Gauge({
      name: 'hal_o_swarm_nodes_online',
      help: 'Nodes whose heartbeats are current',
      registers,
    }),
    recoveryErrorsTotal: new Counter({
      name: 'hal_o_swarm_recovery_errors_total',
      help: 'Failures while recovering state (replay, reconnect, rebuild), by component',
      labelNames: ['component'] as const,
      registers,
    }),
    costUsdTotal: new Gauge({
      name: 'hal_o_swarm_cost_usd_total',
      help: 'Cost in USD reported by provider APIs, by provider, model and project',
      labelNames: ['provider', 'model', 'project'] as const,
      registers,
    }),
    policyActionsTotal: new Counter({
      name: 'hal_o_swarm_policy_actions_total',
      help: 'Actions taken by policies, by policy and outcome',
      labelNames: ['policy', 'outcome'] as const,
      registers,
    }),
    notificationsTotal: new Counter({
      name: 'hal_o_swarm_notifications_total',
      help: 'Notifications delivered or dropped, by channel and outcome',
      labelNames: ['channel', 'outcome'] as const,
      registers,
    }),
    spoolDepth: new Gauge({
      name: 'hal_o_swarm_spool_depth',
      help: 'Events in the agent spool waiting for an ack',
      registers,
    }),
    authFailuresTotal: new Counter({
      name: 'hal_o_swarm_auth_failures_total',
      help: 'Refused credentials: WebSocket upgrades (surface=ws) and API 401/403 answers (surface=api), by reason',
      labelNames: ['surface', 'reason'] as const,
      registers,
    }),
    agentRefusalsTotal: new Counter({
      name: 'hal_o_swarm_agent_refusals_total',
      help: "What an agent said that it has no authority to say (a control-plane event type, another node's session), by error code",
      labelNames: ['code'] as const,
      registers,
    }),
    discordNotificationsTotal: new Counter({
      name: 'hal_o_swarm_discord_notifications_total',
      help: 'Discord bridge alerts: posted (a new message), edited (collapsed into the message already posted), failed (an attempt that will be retried), skipped',
      labelNames: ['outcome'] as const,
      registers,
    }),
    discordInteractionsTotal: new Counter({
      name: 'hal_o_swarm_discord_interactions_total',
      help: 'Discord interactions this bridge received, by kind (command, button, autocomplete) and outcome (ok, error, refused, taken by another instance)',
      labelNames: ['kind', 'outcome'] as const,
      registers,
    }),
    discordRateLimitsTotal: new Counter({
      name: 'hal_o_swarm_discord_rate_limits_total',
      help: 'Discord REST answers 429 (rate limited), by scope (user, global, shared); discord.js waits retry_after and sends again',
      labelNames: ['scope'] as const,
      registers,
    }),
    natsReconnectsTotal: new Counter({
      name: 'hal_o_swarm_nats_reconnects_total',
      help: 'Reconnections to NATS since start',
      registers,
    }),
  };
}

export type HalMetrics = ReturnType<typeof buildHalMetrics>;

// prom-client refuses a second metric with the same name on one registry, and in the
// all-in-one supervisor several services share one registry: each asks for the metrics and
// gets the same instances. Keyed weakly so a test's registry is collected with the test.
const byRegistry = new WeakMap<Registry, HalMetrics>();

/** Every `hal_o_swarm_*` metric on `registry`; repeated calls return the same objects. */
export function createHalMetrics(registry: Registry): HalMetrics {
  let metrics = byRegistry.get(registry);
  if (metrics === undefined) {
    metrics = buildHalMetrics(registry);
    byRegistry.set(registry, metrics);
  }
  return metrics;
}

export type { Registry };

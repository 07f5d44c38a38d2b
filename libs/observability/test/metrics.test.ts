import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHalMetrics, createRegistry } from '@hal/observability';

test('metrics - createHalMetrics twice on one registry returns the same metrics', async () => {
  const registry = createRegistry({ defaultMetrics: false });
  const a = createHalMetrics(registry);
  const b = createHalMetrics(registry);
  assert.equal(a, b);
  a.eventsTotal.inc({ type: 'session.idle' });
  b.eventsTotal.inc({ type: 'session.idle' });
  const text = await registry.metrics();
  assert.match(text, /hal_o_swarm_events_total\{type="session.idle"\} 2/);
});

test('metrics - every hal_o_swarm metric is registered', async () => {
  const registry = createRegistry({ defaultMetrics: false });
  createHalMetrics(registry);
  const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
  assert.deepEqual(names, [
    'hal_o_swarm_agent_refusals_total',
    'hal_o_swarm_auth_failures_total',
    'hal_o_swarm_command_duration_seconds',
    'hal_o_swarm_commands_total',
    'hal_o_swarm_connections_active',
    'hal_o_swarm_cost_usd_total',
    'hal_o_swarm_discord_interactions_total',
    'hal_o_swarm_discord_notifications_total',
    'hal_o_swarm_discord_rate_limits_total',
    'hal_o_swarm_events_rejected_total',
    'hal_o_swarm_events_total',
    'hal_o_swarm_nats_reconnects_total',
    'hal_o_swarm_nodes_online',
    'hal_o_swarm_notifications_total',
    'hal_o_swarm_policy_actions_total',
    'hal_o_swarm_recovery_errors_total',
    'hal_o_swarm_sessions_active',
    'hal_o_swarm_spool_depth',
  ]);
});

test('metrics - separate registries do not share metrics; default metrics are on by default', async () => {
  const one = createRegistry();
  const two = createRegistry({ defaultMetrics: false });
  createHalMetrics(one).nodesOnline.set(3);
  createHalMetrics(two).nodesOnline.set(1);
  assert.match(await one.metrics(), /hal_o_swarm_nodes_online 3/);
  assert.match(await one.metrics(), /process_cpu_user_seconds_total/);
  const twoText = await two.metrics();
  assert.match(twoText, /hal_o_swarm_nodes_online 1/);
  assert.equal(twoText.includes('process_cpu_user_seconds_total'), false);
});

import { SYSTEM_NODE } from './events.ts';

/**
 * What an agent may say about the world. An agent reports facts about its own host's sessions;
 * everything the control plane decides (nodes coming and going, cost, policy, audit, commands,
 * security alerts) is published by the control plane only, so a compromised host cannot forge
 * it. Later issues that add event types extend these lists here, and only here.
 */
export const AGENT_EVENT_PREFIXES = [
  'session.',
  'message.',
  'part.',
  'permission.',
  'question.',
  'agent.',
  'env.',
  // The agent wrote a project's rendered AGENT.md (env module).
  'agentmd.',
  // The progress of a hand-off the agent runs on one of its sessions.
  'handoff.',
  // opencode events HAL does not interpret, passed through as `opencode.<type>`.
  'opencode.',
] as const;

/** True for an event type an agent may publish. Anything not listed is the control plane's. */
export function isAgentEventType(type: string): boolean {
  return AGENT_EVENT_PREFIXES.some((prefix) => type.startsWith(prefix) && type.length > prefix.length);
}

/**
 * Node names an agent may never use: the control plane's own node (`SYSTEM_NODE`, on events
 * that concern no host) and names that read as the control plane in alerts and audit records.
 * Compared case-insensitively, so `Control-Plane` is refused as well.
 */
export const RESERVED_NODE_NAMES: readonly string[] = [SYSTEM_NODE, 'gateway', 'supervisor', 'hal', 'system'];

export function isReservedNodeName(node: string): boolean {
  const lower = node.trim().toLowerCase();
  return RESERVED_NODE_NAMES.includes(lower);
}

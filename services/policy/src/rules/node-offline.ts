import { Severity } from '@hal/protocol';
import { type NodeRule, secondsSince } from './rule.ts';

export interface NodeOfflineState {
  alerted_for: number | null;
}

export const nodeOfflineRule: NodeRule<NodeOfflineState> = {
  name: 'node_offline',
  decide(state, { now, node, policies }) {
    const cfg = policies.node_offline;
    if (node.online || node.offline_since === null || state?.alerted_for === node.offline_since) return null;
    if (now - node.offline_since < cfg.after_seconds * 1000) return null;
    return {
      state: { alerted_for: node.offline_since },
      effect: {
        decision: 'acted',
        reason: `node ${node.node} offline for ${secondsSince(now, node.offline_since)} s (threshold ${cfg.after_seconds} s)`,
        alert: { title: 'Node offline', severity: Severity.CRITICAL },
      },
    };
  },
};

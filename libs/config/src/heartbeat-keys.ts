import { isDeepStrictEqual } from 'node:util';
import type { ConfigProblem } from './config-error.ts';

const HEARTBEAT_KEYS = ['heartbeat_interval_sec', 'heartbeat_timeout_count'] as const;

/**
 * The heartbeat keys live at the top level of the supervisor config, but the product README (and
 * so many configs in the wild) writes them inside `server`. Both places are accepted: a key in
 * `server` moves to the top level before validation. Written in both places with different values,
 * nobody could tell which one applies — that is a problem, not a silent choice.
 */
export function hoistServerHeartbeatKeys(raw: Record<string, unknown>): ConfigProblem[] {
  const server = raw.server;
  if (typeof server !== 'object' || server === null || Array.isArray(server)) return [];
  const inServer = server as Record<string, unknown>;
  const problems: ConfigProblem[] = [];
  for (const key of HEARTBEAT_KEYS) {
    if (!Object.hasOwn(inServer, key)) continue;
    const value = inServer[key];
    delete inServer[key];
    if (Object.hasOwn(raw, key) && !isDeepStrictEqual(raw[key], value)) {
      problems.push({
        path: `server.${key}`,
        message: `is ${JSON.stringify(value)} here but ${JSON.stringify(raw[key])} at the top level (${key}): the two disagree, keep only one`,
      });
      continue;
    }
    raw[key] = value;
  }
  return problems;
}

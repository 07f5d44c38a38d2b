import { randomUUID } from 'node:crypto';
import { type JetStreamClient, publishAudit } from '@hal/bus';
import type { Logger } from 'pino';
import type { Principal } from './auth.ts';

export interface AuditEntry {
  principal: Principal;
  action: string;
  target: Record<string, string>;
  params: Record<string, unknown>;
  result: { ok: boolean; code?: string };
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
}

/**
 * Writes API actions to HAL_AUDIT. A failed audit write is logged, not returned to the caller:
 * the action already happened, and answering "failed" would make a client retry it.
 */
export function createAuditLog(deps: {
  js: JetStreamClient;
  enabled: boolean;
  log: Logger;
  now: () => Date;
}): AuditLog {
  return {
    async record(entry) {
      if (!deps.enabled) return;
      try {
        await publishAudit(deps.js, {
          id: randomUUID(),
          time: deps.now().toISOString(),
          actor: { kind: 'user', id: entry.principal.name },
          action: entry.action,
          target: entry.target,
          params: entry.params,
          result: entry.result,
          source: 'http-api',
        });
      } catch (err) {
        deps.log.error({ err, action: entry.action }, 'audit write failed');
      }
    },
  };
}

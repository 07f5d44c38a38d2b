import { randomUUID } from 'node:crypto';
import { type JetStreamClient, publishAudit } from '@hal/bus';
import type { Logger } from '@hal/observability';
import { actorOf, type Principal } from './roles.ts';

export interface AuditEntry {
  principal: Principal;
  action: string;
  target: Record<string, string>;
  params: Record<string, unknown>;
  result: { ok: boolean; code?: string; message?: string };
}

export interface AuditLog {
  record(entry: AuditEntry): Promise<void>;
}

const PROMPT_KEEP = 200;
const SECRET_KEY = /token|secret|password|authorization/i;

/** Audit params keep what a reviewer needs, never a secret or a whole prompt. */
export function auditParams(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return {};
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(body)) {
    if (SECRET_KEY.test(key)) continue;
    out[key] =
      typeof value === 'string' && value.length > PROMPT_KEEP ? `${value.slice(0, PROMPT_KEEP)}…` : value;
  }
  return out;
}

/**
 * Writes actions to HAL_AUDIT (`hal.audit.<actor kind>`). A failed audit write is logged, not
 * returned to the caller: the action already happened, and answering "failed" would make a
 * client retry it.
 */
export function createAuditLog(deps: {
  js: JetStreamClient;
  enabled: boolean;
  log: Logger;
  now: () => Date;
  /** Which front-end acted: `http-api`, `discord`. */
  source: string;
}): AuditLog {
  return {
    async record(entry) {
      if (!deps.enabled) return;
      try {
        await publishAudit(deps.js, {
          id: randomUUID(),
          time: deps.now().toISOString(),
          actor: actorOf(entry.principal),
          action: entry.action,
          target: entry.target,
          params: entry.params,
          result: entry.result,
          source: deps.source,
        });
      } catch (err) {
        deps.log.error({ err, action: entry.action }, 'audit write failed');
      }
    },
  };
}

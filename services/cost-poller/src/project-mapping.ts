import type { CostProjectMapping } from '@hal/config';
import { UNATTRIBUTED_PROJECT } from '@hal/protocol';

export type ProjectOf = (provider: string, scopeId: string, apiKeyId?: string) => string;

/**
 * Provider ids → HAL project, from `cost.projects`. An API key mapping wins over its workspace or
 * project (one key may serve one HAL project inside a shared workspace). Resolved at report time,
 * so a mapping added later applies to history too. Unmapped spend is `unattributed`, never lost.
 */
export function createProjectMapper(mappings: readonly CostProjectMapping[]): ProjectOf {
  const byKey = new Map<string, string>();
  const byScope = new Map<string, string>();
  for (const m of mappings) {
    if (m.kind === 'api_key') byKey.set(`${m.provider}\u0000${m.id}`, m.project);
    else byScope.set(`${m.provider}\u0000${m.id}`, m.project);
  }
  return (provider, scopeId, apiKeyId) =>
    (apiKeyId ? byKey.get(`${provider}\u0000${apiKeyId}`) : undefined) ??
    byScope.get(`${provider}\u0000${scopeId}`) ??
    UNATTRIBUTED_PROJECT;
}

import { type PolicyView, policyViewSchema } from '@hal/protocol';
import { parseAnswer } from '../api-answer.ts';

/**
 * `halctl policies list`. The work is a plain function over an API client and an output stream,
 * so the command module has no argv or env of its own (HOUSE_STYLE rule 10).
 */
export interface PoliciesApi {
  /** GET a path of the HTTP API; resolves with the envelope's `data`. */
  get(path: string): Promise<unknown>;
}

export interface TextOut {
  write(chunk: string): unknown;
}

export const POLICIES_LIST_PATH = '/api/v1/policies';

export async function policiesList(
  api: PoliciesApi,
  out: TextOut,
  opts: { json?: boolean } = {},
): Promise<void> {
  const policies = parseAnswer(
    policyViewSchema.array(),
    await api.get(POLICIES_LIST_PATH),
    POLICIES_LIST_PATH,
    ['data'],
  );
  if (opts.json) {
    out.write(`${JSON.stringify(policies, null, 2)}\n`);
    return;
  }
  out.write(formatPolicies(policies));
}

/** One line per policy, then its recent actions (newest first, at most 5) indented below. */
export function formatPolicies(policies: readonly PolicyView[]): string {
  const nameWidth = Math.max(6, ...policies.map((p) => p.name.length));
  const lines = [`${'POLICY'.padEnd(nameWidth)}  STATE      SOURCE    ACTIONS`];
  for (const p of policies) {
    const state = `${p.enabled ? 'enabled' : 'disabled'}${p.dry_run ? '*' : ''}`;
    lines.push(
      `${p.name.padEnd(nameWidth)}  ${state.padEnd(9)}  ${p.enabled_source.padEnd(8)}  ${p.recent_actions.length}`,
    );
    for (const a of p.recent_actions.slice(0, 5)) {
      lines.push(`  ${a.time}  ${a.decision.padEnd(7)}  ${a.session ?? a.node}  ${a.reason}`);
    }
  }
  if (policies.some((p) => p.dry_run)) lines.push('* dry run: decisions are recorded, nothing is done');
  return `${lines.join('\n')}\n`;
}

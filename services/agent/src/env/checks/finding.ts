import type { EnvCategory, EnvDrift, EnvFix, EnvItem } from '@hal/protocol';
import type { EnvFile } from '../env-file.ts';
import type { EnvMemory } from '../env-memory.ts';
import type { HostProbe } from '../host-probe.ts';

/** One checked item, with the drift it shows and, for a safe fix, how to do it. */
export interface Finding {
  item: EnvItem;
  drift?: EnvDrift;
  /** Does the safe fix; resolves to what it did, in words. */
  apply?: () => Promise<string>;
  /** Set on the item that wrote the rendered AGENT.md (`agentmd.updated`). */
  agentMd?: { file: string; sha256: string; previous: string | null };
}

export interface CheckContext {
  node: string;
  probe: HostProbe;
  memory: EnvMemory;
  /** Where env var fixes go; absent: env vars are a manual fix. */
  envFile: EnvFile | undefined;
  now: () => Date;
}

export const short = (hash: string) => `sha256:${hash.slice(0, 12)}`;
const clip = (text: string, max = 4000) => (text.length > max ? `${text.slice(0, max)}…` : text);

export function item(
  category: EnvCategory,
  name: string,
  expected: string,
  actual: string,
  status: EnvItem['status'],
  fix?: EnvFix,
): EnvItem {
  return {
    id: `${category}:${name}`,
    category,
    name,
    expected: clip(expected),
    actual: clip(actual),
    status,
    ...(status === 'pass' || fix === undefined ? {} : { fix }),
  };
}

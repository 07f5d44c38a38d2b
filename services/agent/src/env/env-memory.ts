import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@hal/observability';
import { z } from 'zod';
import { writeAtomic } from './project-files.ts';

const memorySchema = z.object({
  version: z.literal(1),
  /** Absolute path of a managed file → SHA-256 of what the agent last wrote there. */
  rendered: z.record(z.string(), z.string()).default({}),
  /** project → milestones already reported. */
  milestones: z.record(z.string(), z.array(z.string())).default({}),
  /** project → signature of the last `env.provision.manual_required`, so a repeat is not re-alerted. */
  manual: z.record(z.string(), z.string()).default({}),
  /** project → context dir of the last spec (where PROGRESS.md is watched). */
  context_dirs: z.record(z.string(), z.string()).default({}),
});
type MemoryData = z.infer<typeof memorySchema>;

/**
 * What the agent remembers between runs about the files it manages, in `<data_dir>/env-memory.json`.
 * "Modified" vs "outdated" rests on it: a local file equal to what the agent last rendered was
 * not touched by a person, so a newer template may replace it; any other content is theirs.
 */
export interface EnvMemory {
  lastRendered(path: string): string | undefined;
  setRendered(path: string, sha256: string): void;
  milestones(project: string): readonly string[];
  addMilestones(project: string, names: readonly string[]): void;
  manualSignature(project: string): string | undefined;
  setManualSignature(project: string, signature: string): void;
  contextDir(project: string): string | undefined;
  setContextDir(project: string, dir: string): void;
}

export function openEnvMemory(dataDir: string, log: Logger): EnvMemory {
  const file = join(dataDir, 'env-memory.json');
  let data: MemoryData = { version: 1, rendered: {}, milestones: {}, manual: {}, context_dirs: {} };
  try {
    data = memorySchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (err) {
    // Missing on the first run. A damaged file costs only "modified" verdicts (never an overwrite).
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
      log.warn({ err, file }, 'env memory unreadable, starting afresh');
  }
  const save = () => writeAtomic(file, `${JSON.stringify(data)}\n`, 0o600);
  return {
    lastRendered: (path) => data.rendered[path],
    setRendered(path, sha) {
      if (data.rendered[path] === sha) return;
      data.rendered[path] = sha;
      save();
    },
    milestones: (project) => data.milestones[project] ?? [],
    addMilestones(project, names) {
      data.milestones[project] = [...new Set([...(data.milestones[project] ?? []), ...names])];
      save();
    },
    manualSignature: (project) => data.manual[project],
    setManualSignature(project, signature) {
      data.manual[project] = signature;
      save();
    },
    contextDir: (project) => data.context_dirs[project],
    setContextDir(project, dir) {
      if (data.context_dirs[project] === dir) return;
      data.context_dirs[project] = dir;
      save();
    },
  };
}

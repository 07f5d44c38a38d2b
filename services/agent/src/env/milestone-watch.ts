import { type StatsListener, unwatchFile, watchFile } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@hal/observability';
import type { ProjectRef } from '../opencode-events.ts';
import type { EnvMemory } from './env-memory.ts';
import { readState, resolveInside } from './project-files.ts';

/** `- [x] milestone: <name>` (also `*`, `[X]`), one per line. */
const MILESTONE = /^\s*[-*]\s+\[[xX]\]\s+milestone:\s*(\S.*?)\s*$/;
const MAX_MILESTONE_CHARS = 256;

export function milestonesIn(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const m = MILESTONE.exec(line);
    if (m && !out.includes(m[1]!)) out.push(m[1]!.slice(0, MAX_MILESTONE_CHARS));
  }
  return out;
}

export interface MilestoneWatch {
  start(): void;
  stop(): void;
  /** Reads every PROGRESS.md now (the poll does the same). */
  scan(): void;
}

/**
 * Watches each project's `.context/PROGRESS.md` and reports milestones the agent has not
 * reported before (remembered across restarts). A stat poll, not inotify: the file may not exist
 * yet, editors replace it by rename, and a handful of projects cost nothing to poll.
 */
export function createMilestoneWatch(deps: {
  projects: readonly ProjectRef[];
  memory: EnvMemory;
  intervalMs: number;
  log: Logger;
  emit(project: string, milestone: string, file: string): void;
}): MilestoneWatch {
  const watched: Array<{ path: string; listener: StatsListener }> = [];

  function scanProject(p: ProjectRef): void {
    const rel = `${deps.memory.contextDir(p.name) ?? '.context/'}PROGRESS.md`;
    let path: string;
    try {
      path = resolveInside(p.directory, rel);
    } catch (err) {
      deps.log.debug({ err, project: p.name }, 'progress file not readable');
      return;
    }
    const state = readState(path);
    if (state.kind !== 'file') return;
    const known = new Set(deps.memory.milestones(p.name));
    const fresh = milestonesIn(state.content).filter((m) => !known.has(m));
    if (fresh.length === 0) return;
    // Remembered before emitting: a crash between the two loses a report rather than doubling
    // it, and the control plane acts at most once per milestone anyway.
    deps.memory.addMilestones(p.name, fresh);
    for (const m of fresh) {
      deps.log.info({ project: p.name, milestone: m }, 'milestone reached');
      deps.emit(p.name, m, rel);
    }
  }

  return {
    scan() {
      for (const p of deps.projects) scanProject(p);
    },
    start() {
      for (const p of deps.projects) {
        const path = join(p.directory, deps.memory.contextDir(p.name) ?? '.context/', 'PROGRESS.md');
        const listener: StatsListener = (cur, prev) => {
          if (cur.mtimeMs !== prev.mtimeMs || cur.size !== prev.size) scanProject(p);
        };
        watchFile(path, { interval: deps.intervalMs, persistent: false }, listener);
        watched.push({ path, listener });
        scanProject(p);
      }
    },
    stop() {
      for (const w of watched) unwatchFile(w.path, w.listener);
      watched.length = 0;
    },
  };
}

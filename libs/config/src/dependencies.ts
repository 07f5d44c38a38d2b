import { z } from 'zod';
import type { ConfigProblem } from './config-error.ts';

const projectName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/, 'must be a project name: letters, digits, ".", "_" or "-"');

/**
 * `dependencies` of the supervisor config: which projects wait for which. When a project marks
 * a milestone done in `.context/PROGRESS.md`, the `start_dependents` policy starts (or prompts)
 * the projects that depend on it. Every project named must be a key here (`{"depends_on": []}`
 * for one that depends on nothing), so a typo is an error instead of a dependency that never fires.
 */
export const dependenciesSchema = z
  .record(projectName, z.strictObject({ depends_on: z.array(projectName).max(100).default([]) }))
  .default({});
export type DependenciesConfig = z.output<typeof dependenciesSchema>;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Unknown projects and cycles, each with its key path; a cycle is named in full (`a → b → a`). */
export function dependencyProblems(raw: unknown): ConfigProblem[] {
  if (!isRecord(raw) || !isRecord(raw.dependencies)) return [];
  const deps = raw.dependencies;
  const graph = new Map<string, string[]>();
  for (const [p, v] of Object.entries(deps)) {
    const on =
      isRecord(v) && Array.isArray(v.depends_on) ? v.depends_on.filter((d) => typeof d === 'string') : [];
    graph.set(p, on as string[]);
  }
  const problems: ConfigProblem[] = [];
  for (const [p, on] of graph) {
    on.forEach((d, i) => {
      if (!graph.has(d)) {
        problems.push({
          path: `dependencies.${p}.depends_on[${i}]`,
          message: `unknown project "${d}": add "dependencies.${d}": {"depends_on": []} if it exists, so a typo cannot hide a dependency that never fires`,
        });
      }
    });
  }
  // Depth-first search; each cycle is reported once, from its first project in config order.
  const state = new Map<string, 'visiting' | 'done'>();
  const reported = new Set<string>();
  const visit = (node: string, path: string[]): void => {
    state.set(node, 'visiting');
    for (const next of graph.get(node) ?? []) {
      if (!graph.has(next)) continue;
      if (state.get(next) === 'visiting') {
        const cycle = [...path.slice(path.indexOf(next)), next];
        const id = [...cycle.slice(0, -1)].sort().join('|');
        if (!reported.has(id)) {
          reported.add(id);
          problems.push({
            path: `dependencies.${cycle[0]}.depends_on`,
            message: `dependency cycle ${cycle.join(' → ')}: none of these projects could ever start after the others`,
          });
        }
      } else if (state.get(next) !== 'done') {
        visit(next, [...path, next]);
      }
    }
    state.set(node, 'done');
  };
  for (const p of graph.keys()) if (!state.has(p)) visit(p, [p]);
  return problems;
}

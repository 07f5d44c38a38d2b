import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatPath } from '@hal/protocol';
import type { ConfigProblem } from './config-error.ts';

const SUFFIX = '_file';

/**
 * Replaces every `<key>_file: "path"` with `<key>: <file content>` (one trailing newline
 * trimmed), in place. Secrets then live in files with tight permissions (systemd credentials,
 * k8s Secret volumes) and never in the config file or the environment.
 */
export function resolveSecretFiles(node: unknown, cwd: string, path: PropertyKey[] = []): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  if (Array.isArray(node)) {
    node.forEach((item, i) => {
      problems.push(...resolveSecretFiles(item, cwd, [...path, i]));
    });
    return problems;
  }
  if (typeof node !== 'object' || node === null) return problems;
  const obj = node as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    const value = obj[key];
    if (key.endsWith(SUFFIX) && key.length > SUFFIX.length && typeof value === 'string') {
      const name = key.slice(0, -SUFFIX.length);
      const file = resolve(cwd, value);
      delete obj[key];
      try {
        obj[name] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code ?? 'unreadable';
        problems.push({
          path: formatPath([...path, key]),
          message: `cannot read secret file "${file}" (${code}): ${formatPath([...path, name])} stays unset`,
        });
      }
    } else {
      problems.push(...resolveSecretFiles(value, cwd, [...path, key]));
    }
  }
  return problems;
}

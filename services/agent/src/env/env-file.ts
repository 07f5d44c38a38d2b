import { readFileSync } from 'node:fs';
import { writeAtomic } from './project-files.ts';

/**
 * The opencode unit's environment file (`EnvironmentFile=` in systemd): where the provisioner
 * puts env vars for opencode. Never a system-wide profile — only the process it is meant for.
 * Lines are `NAME=value`; values with spaces or quotes are double-quoted with `\` escapes.
 */
export interface EnvFile {
  readonly path: string;
  read(): Map<string, string>;
  set(name: string, value: string): void;
}

function unquote(raw: string): string {
  const v = raw.trim();
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"'))
    return v.slice(1, -1).replace(/\\(["\\$`])/g, '$1');
  if (v.length >= 2 && v.startsWith("'") && v.endsWith("'")) return v.slice(1, -1);
  return v;
}

function quote(value: string): string {
  return /^[A-Za-z0-9_./:@%+,=-]*$/.test(value) ? value : `"${value.replace(/(["\\$`])/g, '\\$1')}"`;
}

export function openEnvFile(path: string): EnvFile {
  const lines = (): string[] => {
    try {
      return readFileSync(path, 'utf8').split('\n');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  };
  return {
    path,
    read() {
      const out = new Map<string, string>();
      for (const line of lines()) {
        const m = /^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
        if (m) out.set(m[1]!, unquote(m[2]!));
      }
      return out;
    },
    set(name, value) {
      if (/[\n\r\0]/.test(value)) throw new Error(`value of ${name} holds a line break`);
      const kept = lines().filter((l) => !new RegExp(`^\\s*(?:export\\s+)?${name}=`).test(l));
      while (kept.length > 0 && kept.at(-1) === '') kept.pop();
      kept.push(`${name}=${quote(value)}`);
      // 0600: values may be secrets, and only the opencode unit needs to read it.
      writeAtomic(path, `${kept.join('\n')}\n`, 0o600);
    },
  };
}

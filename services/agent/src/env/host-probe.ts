import { execFile } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** How the checker runs programs: with the agent's environment (PATH), bounded in time and output. */
export interface HostProbe {
  /** The absolute path of `binary` on PATH, or undefined. */
  which(binary: string): string | undefined;
  /** Runs a program (no shell); never throws. */
  run(
    file: string,
    args: readonly string[],
    opts?: { cwd?: string; timeoutMs?: number },
  ): Promise<RunOutcome>;
  /** The environment the checker sees (the agent's own). */
  readonly env: Readonly<Record<string, string | undefined>>;
}

export interface RunOutcome {
  /** null when the program could not be started or was killed. */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not run to completion (`not found`, `timed out after 5000 ms`). */
  failure?: string;
}

const MAX_OUTPUT_BYTES = 256 * 1024;

export function createHostProbe(opts: {
  env: Readonly<Record<string, string | undefined>>;
  timeoutMs: number;
}): HostProbe {
  const env = opts.env;
  return {
    env,
    which(binary) {
      if (binary.includes('/')) return isAbsolute(binary) && isExecutable(binary) ? binary : undefined;
      for (const dir of (env.PATH ?? '').split(delimiter)) {
        if (dir === '') continue;
        const candidate = join(dir, binary);
        if (isExecutable(candidate)) return candidate;
      }
      return undefined;
    },
    run(file, args, runOpts = {}) {
      const timeoutMs = runOpts.timeoutMs ?? opts.timeoutMs;
      return new Promise((resolve) => {
        execFile(
          file,
          [...args],
          {
            cwd: runOpts.cwd,
            env: env as NodeJS.ProcessEnv,
            timeout: timeoutMs,
            maxBuffer: MAX_OUTPUT_BYTES,
            killSignal: 'SIGKILL',
          },
          (err, stdout, stderr) => {
            if (err === null) return resolve({ code: 0, stdout, stderr });
            const e = err as NodeJS.ErrnoException & { code?: number | string; killed?: boolean };
            if (e.code === 'ENOENT') return resolve({ code: null, stdout, stderr, failure: 'not found' });
            if (e.killed) {
              return resolve({ code: null, stdout, stderr, failure: `timed out after ${timeoutMs} ms` });
            }
            if (typeof e.code === 'number') return resolve({ code: e.code, stdout, stderr });
            resolve({ code: null, stdout, stderr, failure: e.message });
          },
        );
      });
    },
  };
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

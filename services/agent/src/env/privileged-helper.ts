import { spawn } from 'node:child_process';

const OUTPUT_KEEP = 8 * 1024;

export interface PrivilegedRun {
  /** null when it could not start or was killed at the deadline. */
  code: number | null;
  /** The last OUTPUT_KEEP characters of stdout and stderr, interleaved as they came. */
  output: string;
}

/**
 * Runs an approved risky fix as `[...helper, ...command]` — e.g. `sudo -n apt-get install -y
 * openjdk-17-jdk`, where a sudoers rule names that exact command. No shell: the argv from the
 * manifest is what runs. The helper is configured on the host, never sent by the control plane.
 */
export function runPrivileged(opts: {
  helper: readonly string[];
  command: readonly string[];
  cwd: string;
  env: Readonly<Record<string, string | undefined>>;
  timeoutMs: number;
}): Promise<PrivilegedRun> {
  const [file, ...args] = [...opts.helper, ...opts.command];
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-OUTPUT_KEEP);
    };
    const child = spawn(file!, args, {
      cwd: opts.cwd,
      env: opts.env as NodeJS.ProcessEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => {
      output += `\n[killed after ${opts.timeoutMs} ms]`;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: null, output: `${output}could not start ${file}: ${err.message}` });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

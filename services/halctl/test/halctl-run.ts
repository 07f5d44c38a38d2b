import { runCli } from '../src/cli.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs halctl in-process with captured streams and a fixed terminal width. */
export async function halctl(
  args: string[],
  opts: { env?: Record<string, string>; columns?: number; signal?: AbortSignal } = {},
): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    // HOME points nowhere so a developer's own config file never leaks into a test.
    env: { HOME: '/nonexistent-halctl-home', ...opts.env },
    stdout: { write: (t: string) => (stdout += t), columns: opts.columns ?? 80 },
    stderr: { write: (t: string) => (stderr += t) },
    ...(opts.signal === undefined ? {} : { signal: opts.signal }),
  });
  return { code, stdout, stderr };
}

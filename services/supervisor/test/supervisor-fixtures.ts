import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compiledEntry, tempDir as testkitTempDir } from '@hal/testkit';

export const TOKEN = 'b'.repeat(40);
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** A supervisor's data dir: removed when the file's process exits, after every child has stopped. */
export function tempDir(): string {
  return testkitTempDir('hal-supervisor-');
}

export function writeJson(dir: string, name: string, value: unknown): string {
  const file = join(dir, name);
  writeFileSync(file, typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  return file;
}

export interface Finished {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface Spawned {
  child: ChildProcess;
  done: Promise<Finished>;
  /** stdout so far (JSON log lines). */
  stdout(): string;
}

/**
 * Spawns `hal-supervisor` (its main compiled once by testkit's compiledEntry, not through tsx) with
 * no HAL_* variables of the test environment.
 */
export async function spawnSupervisor(args: string[], cwd: string): Promise<Spawned> {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HAL_')) env[k] = v;
  const child = spawn(process.execPath, [await compiledEntry(MAIN), ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => {
    stdout += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  const done = new Promise<Finished>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
  return { child, done, stdout: () => stdout };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

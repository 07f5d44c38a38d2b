// The parent side of scale.bench.ts's child processes: each part of a scale figure (a gateway,
// a raw ws server, a thousand agents, a JetStream publisher) runs in a process of its own, so its
// memory is its own and two gateways really are two event loops. A child answers one JSON line
// per request on stdout (`child.ts`). Children run compiled (testkit `compiledEntry`), as users run the
// gateway: a figure under tsx would count the loader's closure wrappers as the gateway's memory.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { compiledEntry } from '@hal/testkit';
import type { BenchContext } from '../harness.ts';

const CHILD = fileURLToPath(new URL('./child.ts', import.meta.url));
// The children's working directory: the checkout, as a service run from it has.
const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEFAULT_TIMEOUT_MS = 120_000;

export type ChildRole = 'gateway' | 'ws-server' | 'agents' | 'publisher' | 'raw-control';

/** What a child's `mem` request answers: after three forced GCs. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  /** Memory outside the JS heap held by JS objects (sockets' buffers among it). */
  external: number;
}

export interface BenchChild<Ready> {
  readonly role: ChildRole;
  readonly ready: Ready;
  readonly pid: number;
  call<T>(cmd: string, args?: unknown, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: string;
}

/** Spawns `bench/scale/child.ts <role>` compiled; resolves once it answered its start (request id 0). */
export async function startChild<Ready>(
  ctx: Pick<BenchContext, 'defer'>,
  role: ChildRole,
  opts: Record<string, unknown>,
): Promise<BenchChild<Ready>> {
  const proc: ChildProcess = spawn(
    process.execPath,
    ['--expose-gc', await compiledEntry(CHILD), role, JSON.stringify(opts)],
    { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  let exited = false;
  const waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  const fail = (err: Error): void => {
    for (const w of waiting.values()) w.reject(err);
    waiting.clear();
  };
  proc.once('exit', (code, signal) => {
    exited = true;
    fail(new Error(`scale child ${role} exited (${signal ?? code})`));
  });
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let reply: Reply;
    try {
      reply = JSON.parse(line) as Reply;
    } catch {
      return; // a stray line (a library printing): not ours
    }
    const w = waiting.get(reply.id);
    if (w === undefined) return;
    waiting.delete(reply.id);
    if (reply.ok) w.resolve(reply.result);
    else w.reject(new Error(`scale child ${role}: ${reply.error}`));
  });
  let nextId = 1;
  const await_ = <T>(id: number, timeoutMs: number, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new Error(`scale child ${role}: ${what} not answered in ${timeoutMs} ms`));
      }, timeoutMs);
      waiting.set(id, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  const stop = async (): Promise<void> => {
    if (exited) return;
    const gone = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.kill('SIGKILL');
    await gone;
  };
  ctx.defer(stop);
  const ready = await await_<Ready>(0, DEFAULT_TIMEOUT_MS, 'start');
  return {
    role,
    ready,
    pid: proc.pid ?? -1,
    call: <T>(cmd: string, args?: unknown, timeoutMs = DEFAULT_TIMEOUT_MS) => {
      if (exited) return Promise.reject(new Error(`scale child ${role} is gone`));
      const id = nextId++;
      const answer = await_<T>(id, timeoutMs, cmd);
      proc.stdin!.write(`${JSON.stringify({ id, cmd, args })}\n`);
      return answer;
    },
    stop,
  };
}

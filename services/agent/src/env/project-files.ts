import {
  chmodSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { ErrorCode, HalError, projectPathProblem } from '@hal/protocol';

/** Larger managed files are not read whole: they cannot be a rendered template anyway. */
const MAX_READ_BYTES = 1024 * 1024;

export type FileState =
  | { kind: 'missing' }
  | { kind: 'file'; content: string; executable: boolean }
  /** A directory, a symlink, a device or an oversized file: never written, never followed. */
  | { kind: 'other'; detail: string };

/**
 * Where the provisioner may read and write: paths inside one project directory. The host's LLM
 * can create symlinks there, so a path whose existing part resolves outside the project, or a
 * target that is itself a symlink, is refused rather than followed.
 */
export function resolveInside(root: string, rel: string): string {
  const problem = projectPathProblem(rel);
  if (problem !== undefined) throw new HalError(ErrorCode.VALIDATION_FAILED, `path "${rel}" ${problem}`);
  const target = resolve(root, rel);
  const realRoot = realpathSync(root);
  // The deepest part that exists must resolve inside the project (a symlinked directory may not).
  let existing = dirname(target);
  for (;;) {
    try {
      const real = realpathSync(existing);
      if (real !== realRoot && !real.startsWith(realRoot + sep)) {
        throw new HalError(ErrorCode.VALIDATION_FAILED, `path "${rel}" leads outside the project directory`);
      }
      break;
    } catch (err) {
      if (err instanceof HalError) throw err;
      const parent = dirname(existing);
      if (parent === existing) break;
      existing = parent;
    }
  }
  return target;
}

export function readState(path: string): FileState {
  let st: ReturnType<typeof lstatSync>;
  try {
    st = lstatSync(path);
  } catch {
    return { kind: 'missing' };
  }
  if (st.isSymbolicLink()) return { kind: 'other', detail: 'is a symbolic link' };
  if (!st.isFile()) return { kind: 'other', detail: 'is not a regular file' };
  if (st.size > MAX_READ_BYTES) return { kind: 'other', detail: `is larger than ${MAX_READ_BYTES} bytes` };
  return { kind: 'file', content: readFileSync(path, 'utf8'), executable: (st.mode & 0o111) !== 0 };
}

/** Writes through a temp file and a rename, so a reader never sees half a file. */
export function writeAtomic(path: string, content: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = join(dirname(path), `.${relative(dirname(path), path)}.hal-${process.pid}.tmp`);
  writeFileSync(tmp, content, { mode });
  chmodSync(tmp, mode);
  renameSync(tmp, path);
}

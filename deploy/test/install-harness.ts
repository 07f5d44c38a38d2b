import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { tempDir } from '@hal/testkit';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const OPENCODE = join(REPO, '.tools/opencode/node_modules/.bin/opencode');

/**
 * A tool the test cannot run without. Missing: in CI (CI set) the test fails and says how to get it
 * (scripts/setup.mjs installs it as root); elsewhere it is skipped with the same words.
 */
export function needTool(t: TestContext, tool: string, how: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).status === 0;
  if (found) return true;
  const message = `${tool} is not installed: ${how}`;
  if (process.env.CI) assert.fail(message);
  t.skip(message);
  return false;
}

/** install.sh creates users and chowns files: root only (CI runs as root). */
export function needRoot(t: TestContext): boolean {
  if (process.getuid?.() === 0) return true;
  const message = 'install.sh tests need root (they create users and set owners inside a temporary --root)';
  if (process.env.CI) assert.fail(message);
  t.skip(message);
  return false;
}

export interface Sandbox {
  dir: string;
  /** The --root of every install: seeded with this host's passwd and group. */
  root: string;
  /** A copy of the checkout (no node_modules, .git, .tools) with package.json's version set. */
  source(version: string): string;
  /** Runs a script of a source copy with the stubs first on PATH. */
  run(script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<Result>;
  /** systemctl and npm calls recorded since the last call (then forgotten). */
  calls(): string[];
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

const SOURCE_EXCLUDES = ['node_modules', '.git', '.tools', '.hal', 'dist', '.turbo', 'bench/out'];

/**
 * A temporary --root plus stubs: `systemctl` records its arguments (nothing here may touch the host's
 * systemd), `npm` records them too and `npm ci` links the checkout's node_modules into the release
 * (the real `npm ci` needs the network and minutes; everything else install.sh does is real —
 * useradd --root, ownership, modes, symlinks, unit rendering, config validation by the release).
 */
export function sandbox(_t: TestContext): Sandbox {
  const dir = tempDir('hal-install-');
  const root = join(dir, 'root');
  mkdirSync(join(root, 'etc'), { recursive: true });
  copyFileSync('/etc/passwd', join(root, 'etc/passwd'));
  copyFileSync('/etc/group', join(root, 'etc/group'));
  for (const f of ['shadow', 'gshadow']) writeFileSync(join(root, 'etc', f), '', { mode: 0o640 });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const log = join(dir, 'calls.log');
  writeFileSync(log, '');
  writeFileSync(join(bin, 'systemctl'), `#!/bin/sh\necho "systemctl $*" >> '${log}'\n`, { mode: 0o755 });
  writeFileSync(
    join(bin, 'npm'),
    [
      '#!/bin/sh',
      `echo "npm $*" >> '${log}'`,
      'case "$1" in',
      '  --version) echo 11.0.0 ;;',
      `  ci) ln -s '${join(REPO, 'node_modules')}' node_modules ;;`,
      'esac',
      '',
    ].join('\n'),
    { mode: 0o755 },
  );
  const sources = new Map<string, string>();
  return {
    dir,
    root,
    source(version) {
      const existing = sources.get(version);
      if (existing) return existing;
      const src = join(dir, `src-${version}`);
      mkdirSync(src);
      const tar = spawnSync(
        'sh',
        [
          '-c',
          `tar -C '${REPO}' ${SOURCE_EXCLUDES.map((e) => `--exclude='${e}'`).join(' ')} -cf - . | tar -C '${src}' -xf -`,
        ],
        { encoding: 'utf8' },
      );
      assert.equal(tar.status, 0, tar.stderr);
      const pkgFile = join(src, 'package.json');
      const pkg = JSON.parse(readFileSync(pkgFile, 'utf8')) as { version: string };
      pkg.version = version;
      writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
      sources.set(version, src);
      return src;
    },
    run(script, args, env = {}) {
      return new Promise((resolve) => {
        execFile(
          'bash',
          [script, ...args],
          {
            cwd: dir,
            env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ''}`, ...env },
            timeout: 170_000,
            maxBuffer: 16 * 1024 * 1024,
          },
          (err, stdout, stderr) => {
            const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
            resolve({ code, stdout, stderr });
          },
        );
      });
    },
    calls() {
      const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
      writeFileSync(log, '');
      return lines.map((l) => l.replaceAll(dir, '<sandbox>'));
    },
  };
}

export interface Entry {
  type: 'file' | 'dir' | 'link';
  mode: string;
  owner: string;
  /** sha256 of a file, target of a link. */
  content?: string;
}

/** Every path under `root` with type, mode, numeric owner and content hash (mtimes left out). */
export function snapshot(root: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const base = { mode: (st.mode & 0o7777).toString(8), owner: `${st.uid}:${st.gid}` };
      const rel = relative(root, path);
      if (st.isSymbolicLink()) out.set(rel, { type: 'link', ...base, content: readlinkSync(path) });
      else if (st.isDirectory()) {
        out.set(rel, { type: 'dir', ...base });
        walk(path);
      } else {
        const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
        out.set(rel, { type: 'file', ...base, content: hash });
      }
    }
  };
  walk(root);
  return out;
}

/** The differences between two snapshots, one line each (empty: the same tree). */
export function treeDiff(before: Map<string, Entry>, after: Map<string, Entry>): string[] {
  const lines: string[] = [];
  for (const [path, a] of before) {
    const b = after.get(path);
    if (!b) lines.push(`- ${path}`);
    else if (JSON.stringify(a) !== JSON.stringify(b))
      lines.push(`~ ${path} ${JSON.stringify(a)} → ${JSON.stringify(b)}`);
  }
  for (const path of after.keys()) if (!before.has(path)) lines.push(`+ ${path}`);
  return lines;
}

/** uid and gid of a user in the sandbox's passwd. */
export function idsOf(root: string, user: string): { uid: number; gid: number } {
  const line = readFileSync(join(root, 'etc/passwd'), 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${user}:`));
  assert.ok(line, `no user ${user} in ${root}/etc/passwd`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

// Tests spawn our TypeScript mains (services, agent, halctl) as compiled JS, not through tsx: each
// tsx start costs 0.5–1.8 s of CPU transforming the same sources again, and a test that starts a
// dozen service processes spends most of its time there (#16). The bundle is what a built service
// runs: its own and the @hal/* sources (the `hal-source` condition), npm packages imported at run
// time from node_modules. It is cached across test files and runs, keyed by the content of every
// input file, so a changed source is never run stale.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Plugin } from 'esbuild';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const CACHE = join(REPO, 'node_modules', '.cache', 'hal-test-build');
/** This file: its content is an input of every bundle, so one built by another version is not reused. */
const BUILDER = fileURLToPath(import.meta.url);
// Spelled in parts: this file is bundled too (the test files run compiled), and the plugin below
// would otherwise rewrite its own search text into this file's URL and then never match again.
const META_URL = ['import', 'meta', 'url'].join('.');

interface Manifest {
  /** Repo-relative input paths and the sha256 of each one's content when `output` was built. */
  readonly inputs: Record<string, string>;
  readonly output: string;
}

const inProcess = new Map<string, Promise<string>>();

function sha(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function fileSha(path: string): string | undefined {
  try {
    return sha(readFileSync(path));
  } catch {
    return undefined;
  }
}

/** The cached bundle when every input it was built from is unchanged. */
function fresh(manifestFile: string): string | undefined {
  let manifest: Manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestFile, 'utf8')) as Manifest;
  } catch {
    return undefined;
  }
  // Built by another version of this file (its own hash is among the inputs since), or before that.
  if (manifest.inputs[relative(REPO, BUILDER)] === undefined) return undefined;
  for (const [input, hash] of Object.entries(manifest.inputs)) {
    if (fileSha(join(REPO, input)) !== hash) return undefined;
  }
  return fileSha(manifest.output) === undefined ? undefined : manifest.output;
}

// A bundle lives in the cache directory, so a source's `import.meta.url` (migrations folders,
// the checkout's .tools/opencode) must keep naming the source file, as it does under tsx.
const sourceUrls: Plugin = {
  name: 'source-import-meta-url',
  setup(b) {
    b.onLoad({ filter: /\.ts$/ }, (args) => {
      if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes(META_URL)) return undefined;
      return {
        contents: text.replaceAll(META_URL, JSON.stringify(pathToFileURL(args.path).href)),
        loader: 'ts',
      };
    });
  },
};

const npmExternal: Plugin = {
  name: 'npm-packages-external',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, (args) =>
      args.path.startsWith('@hal/') ? undefined : { path: args.path, external: true },
    );
  },
};

async function compile(entry: string): Promise<string> {
  const name = relative(REPO, entry).replaceAll(/[^\w.-]+/g, '_');
  const manifestFile = join(CACHE, `${name}.json`);
  const cached = fresh(manifestFile);
  if (cached !== undefined) return cached;
  mkdirSync(CACHE, { recursive: true });
  // Two test files may build the same entry at once: each writes its own temp files and renames
  // them into place; both bundles are complete, so either one winning is right.
  const tmp = join(CACHE, `.${name}.${process.pid}.${Date.now()}`);
  // Loaded here, not with the testkit: most test files never build, and a cached bundle needs no esbuild.
  const { build } = await import('esbuild');
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: REPO,
    outfile: `${tmp}.mjs`,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['hal-source'],
    logLevel: 'error',
    metafile: true,
    write: false,
    plugins: [npmExternal, sourceUrls],
  });
  const code = result.outputFiles?.[0]?.contents;
  if (code === undefined) throw new Error(`esbuild wrote no output for ${entry}`);
  const inputs: Record<string, string> = {};
  for (const input of [relative(REPO, BUILDER), ...Object.keys(result.metafile.inputs)]) {
    const hash = fileSha(join(REPO, input));
    if (hash !== undefined) inputs[input] = hash;
  }
  const output = join(CACHE, `${name}.${sha(Buffer.from(code)).slice(0, 16)}.mjs`);
  writeFileSync(`${tmp}.mjs`, code);
  renameSync(`${tmp}.mjs`, output);
  writeFileSync(`${tmp}.json`, JSON.stringify({ inputs, output } satisfies Manifest));
  renameSync(`${tmp}.json`, manifestFile);
  return output;
}

/**
 * `entry` (a TypeScript main, e.g. services/tracker/src/main.ts) as one compiled ESM file to run with
 * `node <file> ...args`: argv, env, signals, stdio and exit codes are the main's own, as with tsx.
 * Built at most once per process, and reused across processes while no input file changed.
 */
export function compiledEntry(entry: string): Promise<string> {
  const key = resolve(entry);
  let built = inProcess.get(key);
  if (built === undefined) {
    built = compile(key);
    inProcess.set(key, built);
    built.catch(() => inProcess.delete(key));
  }
  return built;
}

/**
 * Test files bundled like compiledEntry bundles a main (their own and the @hal/* sources, npm
 * packages left to node_modules), in one build that shares chunks between them, written to `outdir`
 * as `<repo-relative path without .ts>.mjs` with linked source maps (`--enable-source-maps` makes a
 * failure's stack name the .ts lines). scripts/run-tests.mjs runs the suite on these: a test file's
 * process started through tsx spends ~1 s of CPU on tsx's module hooks alone (measured on
 * ws-auth.test.ts, 2.7 → 1.8 s), and ~180 files pay it. Names are kept (`keepNames`), since one
 * bundle holds what were separate modules and esbuild renames clashing top-level names.
 */
export async function compileTestFiles(files: readonly string[], outdir: string): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: files.map((f) => resolve(REPO, f)),
    absWorkingDir: REPO,
    outdir,
    outbase: REPO,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['hal-source'],
    keepNames: true,
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'error',
    plugins: [npmExternal, sourceUrls],
  });
}

#!/usr/bin/env node
// Bundles the dashboard (src/main.tsx → one hashed JS and one hashed CSS file) into dist/, with
// an index.html that names them. `node build.mjs` always builds; `--if-stale` only when a source
// (src/**, this script, package.json, or an installed bundled package) is newer than dist/.
// scripts/setup.mjs runs it with --if-stale, so `npm start` and `npm test` on a clean clone
// serve a fresh bundle; build output is never committed.
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as esbuild from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const DIST = join(here, 'dist');
const SRC = join(here, 'src');
/** Packages whose code ends up in the bundle: a changed install means a stale bundle. */
const BUNDLED = ['preact', 'uplot', 'esbuild'];

function newestMtime(path) {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

function installedPackageJson(name) {
  // Hoisted to the root node_modules by npm workspaces, or local when versions differ.
  for (const base of [join(here, 'node_modules'), join(here, '..', '..', 'node_modules')]) {
    const file = join(base, name, 'package.json');
    if (existsSync(file)) return file;
  }
  return undefined;
}

/** True when dist/ is missing or older than anything that goes into it. */
export function isStale() {
  const marker = join(DIST, 'index.html');
  if (!existsSync(marker)) return true;
  const built = statSync(marker).mtimeMs;
  const inputs = [SRC, fileURLToPath(import.meta.url), join(here, 'package.json')];
  for (const name of BUNDLED) {
    const file = installedPackageJson(name);
    if (file !== undefined) inputs.push(file);
  }
  return inputs.some((p) => newestMtime(p) > built);
}

function indexHtml(js, css) {
  // No inline script or style: the gateway's Content-Security-Policy forbids both. Relative
  // asset paths keep the page working behind a reverse proxy that mounts it under a prefix.
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>HAL-O-SWARM</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="./assets/${css}">
<script type="module" src="./assets/${js}"></script>
</head>
<body>
<div id="app"><noscript>The HAL-O-SWARM dashboard needs JavaScript.</noscript></div>
</body>
</html>
`;
}

/**
 * Builds into a fresh directory and swaps it in with renames, so a gateway serving dist/ never
 * sees half a build. Returns the files and their sizes (raw and gzipped).
 */
export async function buildDashboard({ minify = true } = {}) {
  const started = Date.now();
  const tmp = join(here, `.dist-${process.pid}-${randomBytes(4).toString('hex')}`);
  const assets = join(tmp, 'assets');
  mkdirSync(assets, { recursive: true });
  try {
    const result = await esbuild.build({
      absWorkingDir: here,
      entryPoints: { app: join(SRC, 'main.tsx') },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: ['chrome109', 'firefox115', 'safari16'],
      jsx: 'automatic',
      jsxImportSource: 'preact',
      minify,
      sourcemap: false,
      legalComments: 'none',
      outdir: assets,
      entryNames: '[name]-[hash]',
      assetNames: '[name]-[hash]',
      metafile: true,
      logLevel: 'silent',
      define: { 'process.env.NODE_ENV': '"production"' },
    });
    const outputs = Object.keys(result.metafile.outputs).map((p) => relative(assets, join(here, p)));
    const js = outputs.find((f) => f.endsWith('.js'));
    const css = outputs.find((f) => f.endsWith('.css'));
    if (js === undefined || css === undefined)
      throw new Error(`dashboard build: expected a .js and a .css, got ${outputs}`);
    writeFileSync(join(tmp, 'index.html'), indexHtml(js, css));
    const files = ['index.html', ...outputs.map((f) => `assets/${f}`)].map((name) => {
      const body = readFileSync(join(tmp, name));
      return { name, bytes: body.length, gzip_bytes: gzipSync(body).length };
    });
    writeFileSync(
      join(tmp, 'build.json'),
      `${JSON.stringify({ built_at: new Date().toISOString(), files }, null, 2)}\n`,
    );
    const old = `${DIST}.old-${process.pid}`;
    if (existsSync(DIST)) renameSync(DIST, old);
    renameSync(tmp, DIST);
    rmSync(old, { recursive: true, force: true });
    return { files, ms: Date.now() - started };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const ifStale = process.argv.includes('--if-stale');
  if (ifStale && !isStale()) process.exit(0);
  try {
    const { files, ms } = await buildDashboard();
    const gz = files.reduce((n, f) => n + f.gzip_bytes, 0);
    console.log(
      `dashboard: built ${files.length} files in ${ms} ms (${(gz / 1024).toFixed(1)} KiB gzipped) → ${relative(process.cwd(), DIST) || '.'}`,
    );
  } catch (err) {
    console.error(`dashboard: build failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}

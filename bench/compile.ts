// Bench processes run as users run them: compiled JS, no TypeScript loader. tsx's loader thread
// alone is ~30 MiB of RSS, and its `__name` helper wraps every function it transforms, which makes
// each closure a connection holds larger than the built service's (#13: idle memory per agent
// connection was ~1.5× under tsx what the same code costs compiled).
import { rmSync } from 'node:fs';
import { build } from 'esbuild';
import type { BenchContext } from './harness.ts';

/**
 * `entry` in one ESM file at `outfile`: its own and the @hal/* libraries' sources bundled (from
 * source, the `hal-source` condition), every npm package (and node:*) imported at run time from
 * node_modules, as a built service does. The file is removed when the module ends.
 */
export async function compileForNode(ctx: BenchContext, entry: string, outfile: string): Promise<string> {
  ctx.defer(() => rmSync(outfile, { force: true }));
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['hal-source'],
    logLevel: 'error',
    plugins: [
      {
        name: 'npm-packages-external',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@hal/') ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  return outfile;
}

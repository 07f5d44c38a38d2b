// `npm run bench`: every benchmark module, in order. The raw building blocks come first
// because every later figure is a ratio against them; gateway comes before tracker because the
// tracker's projection rate is a ratio against the gateway's ingest rate (`ctx.figure`).
// Add a module: one line below.
import { type BenchEntry, runBenches } from './harness.ts';

const modules: BenchEntry[] = [
  { name: 'raw', load: () => import('./raw.bench.ts') },
  { name: 'spine', load: () => import('./spine.bench.ts') },
  { name: 'db', load: () => import('./db.bench.ts') },
  { name: 'gateway', load: () => import('./gateway.bench.ts') },
  { name: 'command', load: () => import('./command.bench.ts') },
  { name: 'tracker', load: () => import('./tracker.bench.ts') },
  { name: 'api', load: () => import('./api.bench.ts') },
  { name: 'discord', load: () => import('./discord.bench.ts') },
  { name: 'dashboard', load: () => import('./dashboard.bench.ts') },
];

// Read once here: nothing below the entry looks at the environment.
const { BENCH_QUICK, BENCH_STRICT } = process.env;
const quick = BENCH_QUICK === '1';
const report = await runBenches(modules, { quick });
// Goals are ratios on a noisy shared machine: an unmet goal is reported, and fails the run
// only when asked (BENCH_STRICT=1); a module that crashed always fails it.
const unmet = report.figures.some((f) => f.met === false);
process.exitCode = report.failures.length > 0 || (BENCH_STRICT === '1' && unmet) ? 1 : 0;

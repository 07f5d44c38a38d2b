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
  { name: 'agent', load: () => import('./agent-memory.bench.ts') },
  { name: 'tracker', load: () => import('./tracker.bench.ts') },
  { name: 'policy', load: () => import('./policy.bench.ts') },
  { name: 'api', load: () => import('./api.bench.ts') },
  { name: 'discord', load: () => import('./discord.bench.ts') },
  { name: 'dashboard', load: () => import('./dashboard.bench.ts') },
  { name: 'scale', load: () => import('./scale.bench.ts') },
];

// `npm run bench -- gateway tracker`: only those modules, after `raw` (every ratio needs it).
// A module that reads another's figure (tracker reads gateway's) needs that one named too.
const chosen = process.argv.slice(2);
const unknown = chosen.filter((name) => !modules.some((m) => m.name === name));
if (unknown.length > 0) {
  console.error(
    `bench: unknown module ${unknown.join(', ')}; modules: ${modules.map((m) => m.name).join(', ')}`,
  );
  process.exit(2);
}
const selected =
  chosen.length === 0 ? modules : modules.filter((m) => m.name === 'raw' || chosen.includes(m.name));

// Read once here: nothing below the entry looks at the environment.
const { BENCH_QUICK, BENCH_LENIENT } = process.env;
const quick = BENCH_QUICK === '1';
const report = await runBenches(selected, { quick, partial: chosen.length > 0 });
// An unmet goal fails the run (the table says which and by how much); BENCH_LENIENT=1 only
// reports it, for a smoke run on a shared, noisy machine. A module that crashed always fails.
const unmet = report.figures.filter((f) => f.met === false);
for (const f of unmet) {
  console.error(
    `bench: goal missed: ${f.name} ratio ${f.ratio.toFixed(2)} (goal ${f.goal?.op} ${f.goal?.value})`,
  );
}
const goalsCount = quick || BENCH_LENIENT === '1' ? 0 : unmet.length;
process.exitCode = report.failures.length > 0 || goalsCount > 0 ? 1 : 0;

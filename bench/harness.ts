import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NatsServer, type StartNatsOptions, startNats } from '@hal/testkit';

/** A building-block limit measured in this run (NATS, JetStream, ws, SQLite). */
export interface RawFigure {
  name: string;
  value: number;
  unit: string;
}

/** A goal on the ratio `value / baseline.value`, never on the absolute value (machines differ). */
export interface Goal {
  op: '>=' | '<=';
  value: number;
}

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline: RawFigure;
  ratio: number;
  goal: Goal | null;
  met: boolean | null;
}

export interface FigureInput {
  name: string;
  value: number;
  unit: string;
  /** The name of a raw figure of this run, or a figure the module derived from `ctx.raw`. */
  baseline: string | RawFigure;
  goal?: Goal;
}

export interface BenchContext {
  /** `BENCH_QUICK=1`: a smoke run, every loop shrunk. */
  readonly quick: boolean;
  /** Raw figures measured earlier in this run, by name. */
  readonly raw: Readonly<Record<string, RawFigure>>;
  /**
   * A figure recorded earlier in this run by any module (the latest of that name), so one
   * module can be the baseline of another (the tracker against the gateway's ingest);
   * undefined when that module has not run or failed. Order in `run.ts` decides what exists.
   */
  figure(name: string): Figure | undefined;
  /** A fresh real nats-server (-js, temp store) for this module; stopped when the module ends. */
  nats(opts?: StartNatsOptions): Promise<NatsServer>;
  /** A temp directory removed when the module ends. */
  tmpDir(): Promise<string>;
  /** Picks the loop size: `full` normally, `quick` under BENCH_QUICK. */
  size(full: number, quick: number): number;
  /** Runs `fn` when the module ends, even when it threw (latest registered runs first). */
  defer(fn: () => unknown | Promise<unknown>): void;
  /** Records a figure against its baseline; throws when the baseline name is unknown. */
  record(figure: FigureInput): Figure;
  /** Records a raw figure (for the raw building-block module). */
  recordRaw(figure: RawFigure): void;
  log(message: string): void;
}

export type BenchFn = (ctx: BenchContext) => Promise<void>;

export interface BenchEntry {
  name: string;
  load: () => Promise<{ default: BenchFn }>;
}

export interface BenchReport {
  time: string;
  commit: string | null;
  node: string;
  cpus: number;
  quick: boolean;
  raw: RawFigure[];
  figures: Figure[];
  failures: Array<{ module: string; error: string }>;
}

const OUT_DIR = fileURLToPath(new URL('./out/', import.meta.url));

function toFigure(input: FigureInput, raw: Readonly<Record<string, RawFigure>>): Figure {
  const baseline = typeof input.baseline === 'string' ? raw[input.baseline] : input.baseline;
  if (baseline === undefined) throw new Error(`figure ${input.name}: no raw figure named ${input.baseline}`);
  const ratio = baseline.value === 0 ? Number.NaN : input.value / baseline.value;
  const goal = input.goal ?? null;
  const met =
    goal === null || Number.isNaN(ratio)
      ? null
      : goal.op === '>='
        ? ratio >= goal.value
        : ratio <= goal.value;
  return { name: input.name, value: input.value, unit: input.unit, baseline, ratio, goal, met };
}

async function runModule(
  entry: BenchEntry,
  report: BenchReport,
  raw: Record<string, RawFigure>,
): Promise<void> {
  const cleanups: Array<() => unknown | Promise<unknown>> = [];
  const ctx: BenchContext = {
    quick: report.quick,
    raw,
    figure: (name) => report.figures.findLast((f) => f.name === name),
    nats: async (opts) => {
      const server = await startNats(opts);
      cleanups.push(() => server.stop());
      return server;
    },
    tmpDir: async () => {
      const dir = await mkdtemp(join(tmpdir(), `hal-bench-${entry.name}-`));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      return dir;
    },
    size: (full, quick) => (report.quick ? quick : full),
    defer: (fn) => {
      cleanups.push(fn);
    },
    record: (input) => {
      const figure = toFigure(input, raw);
      report.figures.push(figure);
      return figure;
    },
    recordRaw: (figure) => {
      raw[figure.name] = figure;
      report.raw.push(figure);
    },
    log: (message) => process.stderr.write(`[bench ${entry.name}] ${message}\n`),
  };
  try {
    const mod = await entry.load();
    await mod.default(ctx);
  } catch (err) {
    const error = err instanceof Error ? (err.stack ?? err.message) : String(err);
    report.failures.push({ module: entry.name, error });
    process.stderr.write(`[bench ${entry.name}] FAILED: ${error}\n`);
  } finally {
    for (const cleanup of cleanups.reverse()) {
      try {
        await cleanup();
      } catch (err) {
        process.stderr.write(`[bench ${entry.name}] cleanup failed: ${String(err)}\n`);
      }
    }
  }
}

function gitCommit(): string | null {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    // Not a git checkout (e.g. an unpacked release): the figures stand without a commit.
    return null;
  }
}

function fmt(value: number): string {
  if (Number.isNaN(value)) return 'n/a';
  if (Math.abs(value) >= 1000) return Math.round(value).toLocaleString('en-US');
  return value.toPrecision(3);
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => row[col]!.length)));
  return rows.map((row) => row.map((cell, col) => cell.padEnd(widths[col]!)).join('  ')).join('\n');
}

export function formatReport(report: BenchReport): string {
  const raw = table([
    ['raw figure', 'value', 'unit'],
    ...report.raw.map((f) => [f.name, fmt(f.value), f.unit]),
  ]);
  const figures = table([
    ['figure', 'value', 'unit', 'baseline', 'ratio', 'goal', 'met'],
    ...report.figures.map((f) => [
      f.name,
      fmt(f.value),
      f.unit,
      `${f.baseline.name} ${fmt(f.baseline.value)} ${f.baseline.unit}`,
      `${fmt(f.ratio)}x`,
      f.goal === null ? '-' : `${f.goal.op} ${f.goal.value}x`,
      f.met === null ? '-' : f.met ? 'yes' : 'NO',
    ]),
  ]);
  const header = `bench ${report.commit ?? '(no commit)'} node ${report.node} cpus ${report.cpus}${report.quick ? ' QUICK' : ''}`;
  const failures = report.failures.map((f) => `FAILED ${f.module}: ${f.error.split('\n')[0]}`);
  return [
    header,
    '',
    raw,
    '',
    report.figures.length > 0 ? figures : '(no derived figures)',
    ...failures,
  ].join('\n');
}

/** Runs every module in order (raw first), prints the table, writes `bench/out/latest.json`. */
/** `partial`: only some modules ran, so the report goes to partial.json, never over latest.json. */
export async function runBenches(
  entries: BenchEntry[],
  opts: { quick: boolean; partial: boolean },
): Promise<BenchReport> {
  const report: BenchReport = {
    time: new Date().toISOString(),
    commit: gitCommit(),
    node: process.version,
    cpus: cpus().length,
    quick: opts.quick,
    raw: [],
    figures: [],
    failures: [],
  };
  const raw: Record<string, RawFigure> = {};
  for (const entry of entries) await runModule(entry, report, raw);
  await mkdir(OUT_DIR, { recursive: true });
  const json = `${JSON.stringify(report, null, 2)}\n`;
  const latest = join(OUT_DIR, opts.partial ? 'partial.json' : 'latest.json');
  await writeFile(latest, json);
  // One file per run too, so figures can be compared across commits without re-running.
  const stamp = report.time.replace(/[:.]/g, '-');
  await writeFile(join(OUT_DIR, `${stamp}-${report.commit ?? 'nocommit'}.json`), json);
  process.stdout.write(`${formatReport(report)}\n\nwrote ${latest}\n`);
  return report;
}

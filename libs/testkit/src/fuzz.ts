/**
 * A small seeded PRNG (mulberry32) and generators of hostile values, so a fuzz run is
 * reproducible: the seed is printed, and `HAL_FUZZ_SEED=<seed>` replays the same run.
 */
export interface Rng {
  readonly seed: number;
  /** Uniform in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** A string of up to `max` characters drawn from hostile alphabets (control, dots, wildcards, astral). */
  string(max?: number): string;
  /** Any JSON value, nested at most `depth` levels. */
  json(depth?: number): unknown;
}

/** The seed of this run: `HAL_FUZZ_SEED` when set (to replay a failure), else a fresh one. */
export function fuzzSeed(env: NodeJS.ProcessEnv = process.env): number {
  const fixed = env.HAL_FUZZ_SEED;
  if (fixed !== undefined && /^\d+$/.test(fixed)) return Number(fixed) >>> 0;
  return (Date.now() ^ (process.pid << 16)) >>> 0;
}

const ALPHABETS: ReadonlyArray<readonly string[]> = [
  [...'abcdefghijklmnopqrstuvwxyz'],
  [...'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-'],
  [...'.*>% \t\n\r\\"\'/{}[]:,'],
  [...'\u0000\u0001\u001f\u007f\u2028\u2029\ufeff'],
  [...'éüßçñ中文日本語한국어'],
  [...'😀🧨🔥𝕏'],
  // Lone surrogates: not valid UTF-16 on their own.
  ['\ud800', '\udfff', 'x'],
];

const NUMBERS = [0, -1, 1, 2 ** 31, 2 ** 53, -(2 ** 53), 1e308, -1e308, 0.5, Number.MIN_VALUE] as const;

export function createRng(seed: number): Rng {
  let state = seed >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number): number => Math.floor(next() * n);
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const string = (max = 24): string => {
    const alphabet = pick(ALPHABETS);
    const length = int(max + 1);
    let out = '';
    for (let i = 0; i < length; i++) out += pick(alphabet);
    return out;
  };
  const json = (depth = 3): unknown => {
    const kind = int(depth > 0 ? 8 : 5);
    switch (kind) {
      case 0:
        return null;
      case 1:
        return next() < 0.5;
      case 2:
        return next() < 0.5 ? pick(NUMBERS) : int(1_000_000) - 500_000;
      case 3:
      case 4:
        return string();
      case 5:
      case 6: {
        const out: Record<string, unknown> = {};
        const keys = int(5);
        for (let i = 0; i < keys; i++) {
          const key = next() < 0.1 ? pick(['__proto__', 'constructor', 'toString', '']) : string(8);
          out[key] = json(depth - 1);
        }
        return out;
      }
      default:
        return Array.from({ length: int(5) }, () => json(depth - 1));
    }
  };
  return { seed, next, int, chance: (p) => next() < p, pick, string, json };
}

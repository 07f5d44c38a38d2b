/**
 * Version requirements of an environment manifest (`"java": ">=17"`, `"node": "^20.11"`). A small
 * subset of semver ranges, enough for "at least", "below", "this major" and exact versions:
 * comparators `>=`, `>`, `<=`, `<`, `=` (or none), `^`, `~`, `*`, separated by spaces (all must
 * hold). Versions are dotted numbers; a missing part is 0 (`17` is `17.0.0`).
 */

type Op = '>=' | '>' | '<=' | '<' | '=' | '^' | '~' | '*';

interface Comparator {
  op: Op;
  version: number[];
}

const COMPARATOR = /^(>=|>|<=|<|=|\^|~)?v?(\d+(?:\.\d+){0,3})$/;
const MAX_RANGE_CHARS = 64;

/** The comparators of a range, or undefined when it is not one this module understands. */
function parseRange(range: string): Comparator[] | undefined {
  const trimmed = range.trim();
  if (trimmed === '' || trimmed.length > MAX_RANGE_CHARS) return undefined;
  const out: Comparator[] = [];
  for (const part of trimmed.split(/\s+/)) {
    if (part === '*' || part === 'x' || part === 'any') {
      out.push({ op: '*', version: [] });
      continue;
    }
    const m = COMPARATOR.exec(part);
    if (!m) return undefined;
    out.push({ op: (m[1] ?? '=') as Op, version: m[2]!.split('.').map(Number) });
  }
  return out;
}

export function isVersionRange(range: string): boolean {
  return parseRange(range) !== undefined;
}

function compare(a: readonly number[], b: readonly number[]): number {
  const n = Math.max(a.length, b.length, 3);
  for (let i = 0; i < n; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

function holds(c: Comparator, v: readonly number[]): boolean {
  const cmp = compare(v, c.version);
  switch (c.op) {
    case '*':
      return true;
    case '>=':
      return cmp >= 0;
    case '>':
      return cmp > 0;
    case '<=':
      return cmp <= 0;
    case '<':
      return cmp < 0;
    case '=':
      // `=17` means any 17.x.y when only the major is given, like npm.
      return c.version.every((part, i) => v[i] === part) || cmp === 0;
    case '^': {
      if (cmp < 0) return false;
      // Same first non-zero part: ^1.2 → <2, ^0.3 → <0.4.
      const lead = c.version.findIndex((p) => p !== 0);
      const upTo = lead === -1 ? c.version.length - 1 : lead;
      return c.version.slice(0, upTo + 1).every((part, i) => v[i] === part);
    }
    case '~':
      if (cmp < 0) return false;
      // ~1.2.3 → <1.3; ~1 → <2.
      return c.version.slice(0, Math.max(1, Math.min(2, c.version.length - 1))).every((p, i) => v[i] === p);
  }
}

/** A dotted version found in free text (`openjdk version "17.0.2" 2022-01-18` → 17.0.2). */
export function parseVersion(text: string): string | undefined {
  const m = /(?<![\d.])v?(\d+(?:\.\d+){0,3})(?![\d])/.exec(text);
  return m?.[1];
}

/** True when `version` (a dotted number) satisfies `range`; false for an unparseable range. */
export function satisfies(version: string, range: string): boolean {
  const comparators = parseRange(range);
  if (comparators === undefined) return false;
  const v = version.replace(/^v/, '').split('.').map(Number);
  if (v.some((p) => !Number.isInteger(p) || p < 0)) return false;
  return comparators.every((c) => holds(c, v));
}

import { formatPath } from '@hal/protocol';
import type { z } from 'zod';
import type { ConfigProblem } from './config-error.ts';
import { isSecretKey } from './mask-secrets.ts';
import { objectKeys, schemaAt } from './schema-walk.ts';

/**
 * zod issues as problems a person can act on: the key path, what is wrong with the value,
 * and what happens because of it. Unknown keys get one problem each, with a suggestion.
 */
export function problemsFromZod(error: z.ZodError, schema: z.ZodType, consequence: string): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const parent = schemaAt(schema, issue.path);
      const known = parent ? (objectKeys(parent) ?? []) : [];
      for (const key of issue.keys) {
        const guess = closest(key, known);
        const hint = guess
          ? ` (did you mean "${guess}"?)`
          : known.length
            ? ` (known keys: ${known.join(', ')})`
            : '';
        problems.push({
          path: formatPath([...issue.path, key]),
          message: `unknown key${hint}: it would be ignored, so the setting you meant does not apply; ${consequence}`,
        });
      }
      continue;
    }
    const secret = issue.path.some((k) => typeof k === 'string' && isSecretKey(k));
    problems.push({ path: formatPath(issue.path), message: `${describe(issue, secret)}; ${consequence}` });
  }
  return problems;
}

function describe(issue: z.core.$ZodIssue, secret: boolean): string {
  // A secret's value never appears in a message: messages end up in logs and terminals.
  const got = secret ? 'a hidden value' : 'input' in issue ? show(issue.input) : undefined;
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? `is required (a ${issue.expected})`
        : `must be a ${issue.expected}, got ${got} (${typeName(issue.input)})`;
    case 'too_small':
      return `${bound(issue.origin, '>=', issue.minimum, issue.inclusive)}, got ${got}`;
    case 'too_big':
      return `${bound(issue.origin, '<=', issue.maximum, issue.inclusive)}, got ${got}`;
    case 'invalid_value':
      return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}, got ${got}`;
    case 'invalid_format':
      return issue.format === 'regex'
        ? `${issue.message}, got ${got}`
        : `must be a valid ${issue.format}, got ${got}`;
    case 'not_multiple_of':
      return `must be a multiple of ${String(issue.divisor)}, got ${got}`;
    default:
      return issue.message;
  }
}

function bound(origin: string, op: string, limit: unknown, inclusive: boolean | undefined): string {
  const n = Number(limit);
  if (origin === 'string')
    return op === '>=' ? `must be at least ${n} characters` : `must be at most ${n} characters`;
  if (origin === 'array') return op === '>=' ? `needs at least ${n} item(s)` : `allows at most ${n} item(s)`;
  const strict = inclusive === false;
  if (op === '>=') return strict ? `must be greater than ${n}` : `must be at least ${n}`;
  return strict ? `must be less than ${n}` : `must be at most ${n}`;
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** The known key a typo most likely meant, if one is close enough. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of known) {
    const d = distance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

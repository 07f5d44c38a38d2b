import { formatPath } from '@hal/protocol';
import type { z } from 'zod';
import type { ConfigProblem } from './config-error.ts';
import { childSchema, kindOf, schemaAt } from './schema-walk.ts';

export type EnvSource = Readonly<Record<string, string | undefined>>;
export type ConfigPath = (string | number)[];

export interface EnvPatch {
  path: ConfigPath;
  value: unknown;
}

const PREFIX = 'HAL_';

/**
 * `HAL_<PATH>` overrides: `__` separates nesting levels (`HAL_SERVER__PORT=9000`), a single `_`
 * stays part of a key (`HAL_HEARTBEAT_INTERVAL_SEC`), `<key>_FILE` reads a secret from a file.
 * Variables that name no key of this role are ignored: HAL_* variables of other roles and
 * tools share the environment. Aliases are applied first so the full name wins.
 */
export function envOverrides(
  schema: z.ZodType,
  env: EnvSource,
  aliases: Readonly<Record<string, string>>,
): { patches: EnvPatch[]; problems: ConfigProblem[] } {
  const patches: EnvPatch[] = [];
  const problems: ConfigProblem[] = [];
  const names = Object.keys(env)
    .filter((n) => n.startsWith(PREFIX))
    .sort((a, b) => Number(Object.hasOwn(aliases, b)) - Number(Object.hasOwn(aliases, a)));
  for (const name of names) {
    const raw = env[name];
    if (raw === undefined) continue;
    const aliased = Object.hasOwn(aliases, name) ? aliases[name] : undefined;
    const path = aliased ? aliased.split('.') : toPath(name.slice(PREFIX.length), schema);
    if (!path) continue;
    const target = schemaAt(schema, path);
    const last = path[path.length - 1];
    if (!target) {
      // `<key>_file` is not in the schema; it is valid wherever `<key>` is.
      if (typeof last === 'string' && last.endsWith('_file')) {
        const parent = schemaAt(schema, path.slice(0, -1));
        if (parent && childSchema(parent, last.slice(0, -'_file'.length))) patches.push({ path, value: raw });
      }
      continue;
    }
    const coerced = coerce(raw, kindOf(target));
    if (coerced.ok) patches.push({ path, value: coerced.value });
    else
      problems.push({ path: formatPath(path), message: `${name}=${JSON.stringify(raw)} ${coerced.reason}` });
  }
  return { patches, problems };
}

function toPath(rest: string, schema: z.ZodType): ConfigPath | undefined {
  const path: ConfigPath = [];
  let current: z.ZodType | undefined = schema;
  for (const segment of rest.split('__')) {
    if (segment === '') return undefined;
    const key: string | number = /^\d+$/.test(segment) ? Number(segment) : segment.toLowerCase();
    path.push(key);
    current = current ? childSchema(current, key) : undefined;
  }
  return path;
}

type Coerced = { ok: true; value: unknown } | { ok: false; reason: string };

const TRUE = new Set(['true', '1', 'yes', 'on']);
const FALSE = new Set(['false', '0', 'no', 'off']);

function coerce(raw: string, kind: ReturnType<typeof kindOf>): Coerced {
  const text = raw.trim();
  switch (kind) {
    case 'number': {
      const n = Number(text);
      return text !== '' && Number.isFinite(n)
        ? { ok: true, value: n }
        : { ok: false, reason: 'is not a number' };
    }
    case 'boolean': {
      const lower = text.toLowerCase();
      if (TRUE.has(lower)) return { ok: true, value: true };
      if (FALSE.has(lower)) return { ok: true, value: false };
      return { ok: false, reason: 'is not a boolean (use true or false)' };
    }
    case 'array':
      if (!text.startsWith('[')) {
        return { ok: true, value: text === '' ? [] : text.split(',').map((s) => s.trim()) };
      }
      return json(text);
    case 'object':
    case 'record':
      return json(text);
    default:
      return { ok: true, value: raw };
  }
}

function json(text: string): Coerced {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, reason: 'is not valid JSON' };
  }
}

/** Writes `value` at `path`, creating the objects on the way. */
export function applyPatch(root: Record<string, unknown>, patch: EnvPatch): void {
  let node: Record<string | number, unknown> = root;
  patch.path.forEach((key, i) => {
    if (i === patch.path.length - 1) {
      node[key] = patch.value;
      return;
    }
    const next = node[key];
    if (typeof next !== 'object' || next === null) {
      const fresh = typeof patch.path[i + 1] === 'number' ? [] : {};
      node[key] = fresh;
      node = fresh as Record<string | number, unknown>;
    } else {
      node = next as Record<string | number, unknown>;
    }
  });
}

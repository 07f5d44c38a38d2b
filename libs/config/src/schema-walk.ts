import type { z } from 'zod';

/**
 * Just enough zod introspection to map env var names and unknown keys onto the schema:
 * which keys an object has, what a key holds, and whether a leaf is a number or a boolean.
 */
interface Def {
  type: string;
  innerType?: z.ZodType;
  in?: z.ZodType;
  shape?: Record<string, z.ZodType>;
  valueType?: z.ZodType;
  element?: z.ZodType;
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { def: Def }).def;
}

const WRAPPERS = new Set(['optional', 'default', 'prefault', 'nullable', 'readonly', 'catch', 'nonoptional']);

/** The schema under defaults, optionals and transforms. */
export function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema;
  for (;;) {
    const def = defOf(current);
    if (WRAPPERS.has(def.type) && def.innerType) current = def.innerType;
    else if (def.type === 'pipe' && def.in) current = def.in;
    else return current;
  }
}

export type LeafKind = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'record' | 'other';

export function kindOf(schema: z.ZodType): LeafKind {
  const type = defOf(unwrap(schema)).type;
  if (type === 'string' || type === 'enum' || type === 'literal') return 'string';
  if (type === 'number' || type === 'boolean' || type === 'array' || type === 'object' || type === 'record') {
    return type;
  }
  return 'other';
}

/** The keys an object schema allows, or undefined when the schema is not an object. */
export function objectKeys(schema: z.ZodType): string[] | undefined {
  const def = defOf(unwrap(schema));
  return def.type === 'object' && def.shape ? Object.keys(def.shape) : undefined;
}

export function childSchema(schema: z.ZodType, key: PropertyKey): z.ZodType | undefined {
  const def = defOf(unwrap(schema));
  if (def.type === 'object' && def.shape && typeof key === 'string') {
    return Object.hasOwn(def.shape, key) ? def.shape[key] : undefined;
  }
  if (def.type === 'record') return def.valueType;
  if (def.type === 'array' && typeof key === 'number') return def.element;
  return undefined;
}

export function schemaAt(schema: z.ZodType, path: readonly PropertyKey[]): z.ZodType | undefined {
  let current: z.ZodType | undefined = schema;
  for (const key of path) {
    if (!current) return undefined;
    current = childSchema(current, key);
  }
  return current;
}

import type { z } from 'zod';

/**
 * Values copied from an example and never replaced: `<secret>`, `${TOKEN}`, `changeme`, … A
 * deployment running on one of them is open to anyone who has read the same example.
 */
const PLACEHOLDER_PATTERNS = [
  /^<.*>$/s,
  /^\$\{.*\}$/s,
  /^\{\{.*\}\}$/s,
  /change[-_ ]?me/i,
  /replace[-_ ]?(me|this)/i,
  /your[-_ ]?(token|secret|key)/i,
  /placeholder/i,
];

export function isPlaceholder(value: string): boolean {
  const v = value.trim();
  return PLACEHOLDER_PATTERNS.some((p) => p.test(v));
}

/** Refuses an example value left in place (the value itself is never repeated: it may be a secret). */
export function notPlaceholder<T extends z.ZodString>(schema: T) {
  // abort: a placeholder is the one thing to fix; "too short" on top of it would only distract.
  return schema.refine((v) => !isPlaceholder(v), {
    abort: true,
    message:
      'looks like a placeholder from an example (<…>, changeme, …): put a real value here, e.g. `openssl rand -hex 32` for a token',
  });
}

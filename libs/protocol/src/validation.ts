import type { z } from 'zod';
import { ErrorCode as Codes, type ErrorCode, HalError } from './errors.ts';

export interface IssueDetail {
  path: string;
  message: string;
}

/** `a.b[2].c` — how every HAL error names the place of a problem. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(root)' : out;
}

export function issuesOf(error: z.ZodError, prefix: readonly PropertyKey[] = []): IssueDetail[] {
  return error.issues.map((issue) => ({
    path: formatPath([...prefix, ...issue.path]),
    message: issue.message,
  }));
}

/**
 * Parses at a boundary: the value, or a HalError (VALIDATION_FAILED unless told otherwise)
 * whose message names what and where, and whose details list every problem.
 */
export function parseOrThrow<T extends z.ZodType>(
  schema: T,
  value: unknown,
  what: string,
  code: ErrorCode = Codes.VALIDATION_FAILED,
): z.infer<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = issuesOf(result.error);
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new HalError(code, `invalid ${what}: ${first?.path}: ${first?.message}${more}`, {
    details: { issues },
  });
}

import { ErrorCode, issuesOf } from '@hal/protocol';
import { z } from 'zod';
import { CliError } from './exit-codes.ts';

/** Any `meta` object: endpoints whose meta halctl does not read accept whatever the server adds. */
export const anyMeta = z.record(z.string(), z.unknown());

/**
 * The success envelope every API answer takes, `{data, meta}`, with the schema of this
 * endpoint's `data` (and of the `meta` fields halctl reads).
 */
export function envelope<D extends z.ZodType, M extends z.ZodType = typeof anyMeta>(
  data: D,
  meta?: M,
): z.ZodObject<{ data: D; meta: M }> {
  return z.object({ data, meta: (meta ?? anyMeta) as M });
}

/**
 * The one failure halctl reports when the API answers something outside its contract:
 * `INTERNAL: unexpected answer from the API: <path>: <problem>`.
 */
export function unexpectedAnswer(path: string, problem: string, cause?: unknown): CliError {
  // One line on stderr, whatever the problem text holds.
  const line = problem.replace(/\s*\n\s*/g, ' ');
  return new CliError(
    ErrorCode.INTERNAL,
    `unexpected answer from the API: ${path}: ${line}`,
    cause === undefined ? undefined : { cause },
  );
}

/**
 * Parses an answer at the edge. Problems are worded as `parseOrThrow` words them — the first
 * issue's place and message, then how many more — with `prefix` naming where the value sat
 * (`data` of an SSE event, say).
 */
export function parseAnswer<S extends z.ZodType>(
  schema: S,
  value: unknown,
  path: string,
  prefix: readonly PropertyKey[] = [],
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issues = issuesOf(result.error, prefix);
  const first = issues[0];
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw unexpectedAnswer(path, `${first?.path}: ${first?.message}${more}`, result.error);
}

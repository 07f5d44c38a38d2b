import { HANDOFF_PROMPT_LIMITS, HANDOFF_WAIT_IDLE, idSchema, MAX_PROMPT_CHARS } from '@hal/protocol';
import { z } from 'zod';
import { CliError } from './exit-codes.ts';

/** Arguments people type, checked before anything is sent: a bad one is a USAGE error naming it. */
export const argSchemas = {
  session: idSchema,
  project: idSchema,
  node: idSchema,
  waitIdleSeconds: z
    .number()
    .int('must be whole seconds')
    .min(0)
    .max(HANDOFF_WAIT_IDLE.maxMs / 1000),
  handOffPrompt: z.string().min(1).max(HANDOFF_PROMPT_LIMITS.note),
  prompt: z.string().min(1).max(MAX_PROMPT_CHARS),
} as const;

/** `value` checked by `schema`, or USAGE: `<name> <what is wrong>`. Undefined passes as undefined. */
export function checkArg<T extends z.ZodType>(name: string, schema: T, value: unknown): z.output<T> {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  throw new CliError('USAGE', `${name} ${parsed.error.issues[0]?.message ?? 'is invalid'}`);
}

export function checkOptionalArg<T extends z.ZodType>(
  name: string,
  schema: T,
  value: unknown,
): z.output<T> | undefined {
  return value === undefined ? undefined : checkArg(name, schema, value);
}

import { z } from 'zod';

/** Where a session keeps its current task (§7.2); what HAL shows as the session's task when present. */
export const CONTEXT_TASK_FILE = '.context/CURRENT_TASK.md';

/**
 * Bounds of what the agent takes from CURRENT_TASK.md, host text like any other: at most
 * `readBytes` are read (a 10 MB file costs 16 KiB), at most `chars` reported after cleaning (the
 * tracker's current_task holds 4,000).
 */
export const CONTEXT_TASK_LIMITS = { readBytes: 16_384, chars: 4_000 } as const;

/**
 * Data of `session.task`: the project's CURRENT_TASK.md as the agent read it, cleaned of control
 * characters and escape sequences and bounded. It wins over the session's first prompt as the
 * session's current task.
 */
export const sessionTaskDataSchema = z
  .object({
    task: z.string().min(1).max(CONTEXT_TASK_LIMITS.chars),
    file: z.literal(CONTEXT_TASK_FILE),
  })
  .strict();

import { z } from 'zod';

/** The longest prompt a command may carry (commands.ts); a hand-off never exceeds it either. */
export const MAX_PROMPT_CHARS = 100_000;
/** Bounds of a `handoff` in a command; the sender clips to them (the tracker keeps 600-char texts). */
export const HANDOFF_LIMITS = { intro: 20_000, task: 8_000, message: 8_000, messages: 20 } as const;

/**
 * What the caller of a `restart` knows about the old session and the agent cannot read from
 * opencode: a framing text (a policy's `handoff_prompt`), the last messages as the tracker logged
 * them, and the task as a fallback for when the old session no longer holds its first prompt.
 */
export const handOffSchema = z
  .object({
    intro: z.string().min(1).max(HANDOFF_LIMITS.intro).optional(),
    last_messages: z.array(z.string().max(HANDOFF_LIMITS.message)).max(HANDOFF_LIMITS.messages).optional(),
    task: z.string().min(1).max(HANDOFF_LIMITS.task).optional(),
  })
  .strict();
export type HandOff = z.infer<typeof handOffSchema>;

export interface HandOffInput {
  /** The session that was stopped. */
  session: string;
  title?: string | undefined;
  /** Its first user prompt; absent, the prompt says so instead of inventing one. */
  task?: string | undefined;
  intro?: string | undefined;
  lastMessages?: readonly string[] | undefined;
  /** Extra words from whoever asked for the restart (`restart --prompt`), last. */
  note?: string | undefined;
}

/**
 * THE hand-off prompt: the one text a restarted session starts with. The agent builds it (it
 * reads the old session's title and first prompt from opencode); a policy only contributes the
 * parts it alone knows, through `handOffSchema`. The task appears once.
 */
export function handOffPrompt(input: HandOffInput): string {
  const parts: string[] = [];
  if (input.intro) parts.push(input.intro);
  const title = input.title ? ` ("${input.title}")` : '';
  parts.push(`This session continues session ${input.session}${title}, which was stopped and restarted.`);
  parts.push(
    input.task
      ? `The task, as first given there:\n\n${input.task}`
      : 'The original task text was not available.',
  );
  const last = (input.lastMessages ?? []).filter((m) => !repeatsTask(m, input.task));
  if (last.length > 0) parts.push(`The last messages of the previous session:\n${last.join('\n---\n')}`);
  parts.push('Check the current state of the work in this directory and carry on from where it stopped.');
  if (input.note) parts.push(input.note);
  return parts.join('\n\n').slice(0, MAX_PROMPT_CHARS);
}

/**
 * A short session's last messages include its first prompt: `user: <task>` (the tracker keeps
 * the last 600 characters of a text, so a long task shows as its tail). Left out, the task is
 * said once.
 */
function repeatsTask(message: string, task: string | undefined): boolean {
  if (!task) return false;
  const text = message.replace(/^user: /, '').trim();
  const whole = task.trim();
  return text === whole || (text.length >= 40 && whole.endsWith(text));
}

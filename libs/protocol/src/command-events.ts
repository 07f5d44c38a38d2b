import { z } from 'zod';
import { actorSchema, CommandType } from './commands.ts';
import { ErrorCode } from './errors.ts';

/**
 * Data of a `command.executed` event: one per command the gateway relayed on `hal.cmd.<node>`,
 * published after the reply. Who asked, what kind of command, how it ended and how long it
 * took; never the prompt or any other text of the command.
 */
export const commandExecutedDataSchema = z
  .object({
    command_type: z.enum(Object.values(CommandType) as [CommandType, ...CommandType[]]),
    command_id: z.string().min(1).max(256),
    actor: actorSchema,
    /** The session the command targeted (null for `start` and a node-wide `status`). */
    session: z.string().min(1).max(256).nullable(),
    ok: z.boolean(),
    /** The session a `start` or `restart` created (from the agent's reply). */
    result_session: z.string().min(1).max(256).optional(),
    /** The error code when `ok` is false. */
    code: z.enum(Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]]).optional(),
    duration_ms: z.number().nonnegative(),
  })
  .strict();
export type CommandExecutedData = z.infer<typeof commandExecutedDataSchema>;

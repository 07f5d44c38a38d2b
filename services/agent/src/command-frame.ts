import {
  type Actor,
  type Command,
  CommandType,
  commandPayloadSchema,
  ErrorCode,
  errorReply,
  HalError,
  issuesOf,
  makeEnvelope,
  type Reply,
  WsType,
} from '@hal/protocol';

export type RunCommand = (
  command: Command,
  timeoutMs: number,
  from: { actor: Actor; idempotencyKey: string | undefined },
) => Promise<Reply<unknown>>;

/**
 * Answers one `command` frame from the gateway: an unknown type or a payload that fails its
 * schema gets UNKNOWN_COMMAND / VALIDATION_FAILED naming what and where; a valid one runs. Returns
 * the `command.result` frame, or undefined when the frame had no command_id to answer.
 */
export async function answerCommand(payload: unknown, run: RunCommand): Promise<string | undefined> {
  const p = (payload ?? {}) as Record<string, unknown>;
  const commandId = typeof p.command_id === 'string' && p.command_id !== '' ? p.command_id : undefined;
  let reply: Reply<unknown>;
  const type = (p.command as Record<string, unknown> | undefined)?.type;
  if (typeof type !== 'string' || !Object.values<string>(CommandType).includes(type)) {
    reply = errorReply(
      new HalError(ErrorCode.UNKNOWN_COMMAND, `unknown command "${String(type)}"`, {
        details: { known: Object.values(CommandType) },
      }),
    );
  } else {
    const parsed = commandPayloadSchema.safeParse(payload);
    if (!parsed.success) {
      const issues = issuesOf(parsed.error, ['payload']);
      reply = errorReply(
        new HalError(
          ErrorCode.VALIDATION_FAILED,
          `invalid command: ${issues[0]?.path}: ${issues[0]?.message}`,
          {
            details: { issues },
          },
        ),
      );
    } else {
      reply = await run(parsed.data.command, parsed.data.timeout_ms, {
        actor: parsed.data.actor,
        idempotencyKey: parsed.data.idempotency_key,
      });
    }
  }
  if (commandId === undefined) return undefined;
  const result = reply.ok
    ? { command_id: commandId, ok: true as const, data: reply.data ?? null }
    : { command_id: commandId, ok: false as const, error: reply.error };
  return JSON.stringify(makeEnvelope(WsType.COMMAND_RESULT, result));
}

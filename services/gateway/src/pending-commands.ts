import type { Logger } from '@hal/observability';
import { type CommandRequest, ErrorCode, HalError, type Reply } from '@hal/protocol';

interface PendingCommand {
  resolve(reply: Reply<unknown>): void;
  reject(err: HalError): void;
  timer: NodeJS.Timeout;
  type: string;
  /** The command frame went out on the socket: from then on the agent may have run it. */
  sent: boolean;
  idempotencyKey: string | undefined;
}

/** The commands one agent socket has in flight: each answered by its result, its timeout or the close. */
export class PendingCommands {
  readonly #commands = new Map<string, PendingCommand>();

  constructor(
    private readonly node: string,
    private readonly log: Logger,
  ) {}

  /** Registers the command, then sends it with `send` (false: the frame did not go out). */
  add(request: CommandRequest, commandId: string, send: () => boolean): Promise<Reply<unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#commands.delete(commandId);
        reject(
          new HalError(
            ErrorCode.TIMEOUT,
            `node "${this.node}" did not answer the ${request.command.type} command within ${request.timeout_ms} ms`,
          ),
        );
      }, request.timeout_ms);
      const pending: PendingCommand = {
        resolve,
        reject,
        timer,
        type: request.command.type,
        sent: false,
        idempotencyKey: request.idempotency_key,
      };
      this.#commands.set(commandId, pending);
      pending.sent = send();
    });
  }

  settle(commandId: string, reply: Reply<unknown>): void {
    const pending = this.#commands.get(commandId);
    if (pending === undefined) {
      this.log.debug({ command_id: commandId }, 'result for an unknown or expired command');
      return;
    }
    this.#commands.delete(commandId);
    clearTimeout(pending.timer);
    pending.resolve(reply);
  }

  /** The socket closed: every command still waiting fails, saying whether it may have run. */
  disconnected(): void {
    for (const [id, pending] of this.#commands) {
      clearTimeout(pending.timer);
      pending.reject(disconnectedError(this.node, id, pending));
      this.#commands.delete(id);
    }
  }
}

/**
 * A command the agent may have run is never reported as NODE_OFFLINE: a retry would run it twice.
 * With its idempotency key, sending it again returns what really happened.
 */
function disconnectedError(node: string, commandId: string, pending: PendingCommand): HalError {
  if (!pending.sent) {
    return new HalError(
      ErrorCode.NODE_OFFLINE,
      `node "${node}" disconnected before the ${pending.type} command was sent`,
    );
  }
  const key = pending.idempotencyKey;
  const retry =
    key === undefined
      ? 'check the session before acting again'
      : `send it again with idempotency key "${key}" to get its outcome`;
  return new HalError(
    ErrorCode.COMMAND_OUTCOME_UNKNOWN,
    `node "${node}" disconnected while the ${pending.type} command was running; it may have run: ${retry}`,
    { details: { node, command_id: commandId, ...(key === undefined ? {} : { idempotency_key: key }) } },
  );
}

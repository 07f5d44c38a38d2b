import { createHash } from 'node:crypto';
import type { HalDatabase } from '@hal/db';
import {
  type Actor,
  type Command,
  ErrorCode,
  errorReply,
  HalError,
  type Reply,
  replySchema,
  toHalError,
} from '@hal/protocol';
import { z } from 'zod';

/** How long an outcome is kept: a retry later than this runs the command again. */
export const COMMAND_MEMORY_MS = 24 * 3600 * 1000;

/** Reads are simply answered again; every other command (a new one too) runs once per key. */
const READ_ONLY = new Set<string>(['status', 'logs', 'env_check']);

export function isMutating(command: Command): boolean {
  return !READ_ONLY.has(command.type);
}

export interface CommandMemory {
  /**
   * Runs `run` once per key. A repeat with the same command gets the recorded reply; one that
   * arrives while the first still runs waits for it; the same key on another command (or from
   * another actor) is refused with CONFLICT. A command that was running when the agent stopped
   * has no recorded outcome: its repeat is answered COMMAND_OUTCOME_UNKNOWN, never run again.
   */
  once(
    key: string,
    command: Command,
    actor: Actor,
    run: () => Promise<Reply<unknown>>,
  ): Promise<Reply<unknown>>;
  /** Forgets outcomes older than COMMAND_MEMORY_MS; returns how many. */
  prune(): number;
}

const storedReply = replySchema(z.unknown());

/** The command and who sent it, hashed: a retry matches, a different command under the key does not. */
function fingerprintOf(command: Command, actor: Actor): string {
  return createHash('sha256').update(JSON.stringify({ command, actor })).digest('base64url');
}

/** Idempotency keys → outcomes, in the spool's SQLite file (table `command_results`). */
export function openCommandMemory(sqlite: HalDatabase['sqlite'], now: () => number): CommandMemory {
  const select = sqlite.prepare<[string], { fingerprint: string; type: string; reply: string | null }>(
    'SELECT fingerprint, type, reply FROM command_results WHERE key = ?',
  );
  const insert = sqlite.prepare<[string, string, string, number]>(
    'INSERT INTO command_results (key, fingerprint, type, reply, started_at) VALUES (?, ?, ?, NULL, ?)',
  );
  const settle = sqlite.prepare<[string, string]>('UPDATE command_results SET reply = ? WHERE key = ?');
  const purge = sqlite.prepare<[number]>('DELETE FROM command_results WHERE started_at < ?');
  const running = new Map<string, { fingerprint: string; outcome: Promise<Reply<unknown>> }>();

  function conflict(key: string, type: string): Reply<unknown> {
    return errorReply(
      new HalError(
        ErrorCode.CONFLICT,
        `idempotency key "${key}" was already used for another command (${type}); use a new key`,
        { details: { idempotency_key: key } },
      ),
    );
  }

  return {
    once(key, command, actor, run) {
      const fingerprint = fingerprintOf(command, actor);
      const live = running.get(key);
      if (live !== undefined) {
        return live.fingerprint === fingerprint ? live.outcome : Promise.resolve(conflict(key, command.type));
      }
      const row = select.get(key);
      if (row !== undefined) {
        if (row.fingerprint !== fingerprint) return Promise.resolve(conflict(key, row.type));
        if (row.reply === null) {
          return Promise.resolve(
            errorReply(
              new HalError(
                ErrorCode.COMMAND_OUTCOME_UNKNOWN,
                `the ${row.type} command with idempotency key "${key}" was running when the agent stopped; it may have run`,
                { details: { idempotency_key: key } },
              ),
            ),
          );
        }
        const parsed = storedReply.safeParse(JSON.parse(row.reply));
        if (parsed.success) return Promise.resolve(parsed.data as Reply<unknown>);
      }
      // Recorded as running before it starts: a crash from here on leaves "outcome unknown", not "never ran".
      if (row === undefined) insert.run(key, fingerprint, command.type, now());
      const outcome = run()
        .catch((err: unknown) => errorReply(toHalError(err)))
        .then((reply) => {
          settle.run(JSON.stringify(reply), key);
          return reply;
        });
      const entry = { fingerprint, outcome };
      running.set(key, entry);
      void outcome.finally(() => {
        if (running.get(key) === entry) running.delete(key);
      });
      return outcome;
    },
    prune() {
      return purge.run(now() - COMMAND_MEMORY_MS).changes;
    },
  };
}

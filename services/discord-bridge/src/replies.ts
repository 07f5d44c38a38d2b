import type { Logger } from '@hal/observability';
import { handOffAcceptedSchema, toHalError } from '@hal/protocol';
import {
  type ButtonInteraction,
  type ChatInputCommandInteraction,
  DiscordAPIError,
  MessageFlags,
} from 'discord.js';

/** Discord's "already acknowledged" and "unknown interaction": another instance answered first. */
const TAKEN = new Set([40060, 10062]);

/**
 * Every bridge instance receives every interaction; the first to acknowledge it owns it.
 * Acknowledging first (a defer) is also what keeps us inside Discord's 3-second window.
 */
export async function claim(
  interaction: ChatInputCommandInteraction | ButtonInteraction,
  how: { ephemeral?: boolean; update?: boolean },
  log?: Logger,
): Promise<boolean> {
  try {
    if (how.update && interaction.isButton()) await interaction.deferUpdate();
    else await interaction.deferReply(how.ephemeral ? { flags: MessageFlags.Ephemeral } : {});
    return true;
  } catch (err) {
    if (err instanceof DiscordAPIError && typeof err.code === 'number' && TAKEN.has(err.code)) {
      // 40060: another instance answered. 10062: nobody did in time — the person sees "the
      // application did not respond", so it is worth a warning.
      if (err.code === 10062)
        log?.warn(
          { interaction: interaction.id, age_ms: Date.now() - interaction.createdTimestamp },
          'interaction expired before it was acknowledged',
        );
      return false;
    }
    throw err;
  }
}

/** An error as people read it: the stable code first, then what happened. */
export function describeError(err: unknown): string {
  const e = toHalError(err);
  return `\`${e.code}\` ${e.message}`;
}

export function isTaken(err: unknown): boolean {
  return err instanceof DiscordAPIError && typeof err.code === 'number' && TAKEN.has(err.code);
}

/**
 * What a restart answered, as people read it: a restart is a graceful hand-off that answers at
 * once with its id (the new session follows in `handoff.completed`); an agent of the previous
 * protocol answers with the new session itself.
 */
export function restartOutcome(session: string, data: unknown): string {
  const accepted = handOffAcceptedSchema.safeParse(data);
  if (accepted.success) {
    const wait = Math.round(accepted.data.wait_idle_ms / 1000);
    return `restart of \`${session}\` started as hand-off \`${accepted.data.handoff_id}\`: it writes .context/, goes idle (up to ${wait} s), then a new session continues`;
  }
  const next = (data as { session?: unknown } | null)?.session;
  return `\`${session}\` restarted as \`${typeof next === 'string' ? next : '?'}\``;
}

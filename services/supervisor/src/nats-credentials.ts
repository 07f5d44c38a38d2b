import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '@hal/observability';
import { NatsUser } from '@hal/protocol';
import { z } from 'zod';

/** `<data_dir>/nats-credentials.json`: one password per user of the embedded server, mode 0600. */
export const CREDENTIALS_FILE = 'nats-credentials.json';

const fileSchema = z.object({
  version: z.literal(1),
  users: z.record(z.string(), z.string().min(24)),
});

export type NatsPasswords = Readonly<Record<NatsUser, string>>;

const newPassword = () => randomBytes(32).toString('base64url');

/**
 * The passwords of the embedded server's users: generated at the first start, kept in a 0600
 * file under data_dir and reused after (the NATS CLI contexts people saved keep working). A
 * user added by an upgrade gets its password on the next start; an unreadable file is
 * replaced. Passwords never go on a command line or into a log.
 */
export function loadNatsPasswords(dataDir: string, log: Logger): NatsPasswords {
  const file = join(dataDir, CREDENTIALS_FILE);
  let known: Record<string, string> = {};
  try {
    const parsed = fileSchema.safeParse(JSON.parse(readFileSync(file, 'utf8')));
    if (parsed.success) known = parsed.data.users;
    else log.warn({ file }, 'nats credentials file is not valid; new passwords are generated');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      log.warn({ file, err }, 'nats credentials file is unreadable; new passwords are generated');
    }
  }
  const users = Object.fromEntries(
    Object.values(NatsUser).map((user) => [user, known[user] ?? newPassword()]),
  ) as Record<NatsUser, string>;
  const changed = Object.values(NatsUser).some((user) => known[user] !== users[user]);
  if (changed) {
    // Written whole and renamed into place: a crash never leaves half a file behind.
    const tmp = `${file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify({ version: 1, users }, null, 2)}\n`, { mode: 0o600 });
    chmodSync(tmp, 0o600);
    renameSync(tmp, file);
  }
  // A file copied in by hand may have looser permissions; the passwords are tightened every start.
  chmodSync(file, 0o600);
  return users;
}

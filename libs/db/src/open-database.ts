import { chmodSync, closeSync, existsSync, mkdirSync, openSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '@hal/observability';
import Database from 'better-sqlite3';
import { type BetterSQLite3Database, drizzle } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import { DatabaseUnreadableError, unreadableCodeOf } from './database-unreadable-error.ts';

export type DatabaseSchema = Record<string, unknown>;

export interface OpenDatabaseOptions<TSchema extends DatabaseSchema = Record<string, never>> {
  /** Path of the SQLite file (parent folders are created), or `:memory:`. */
  file: string;
  /** The drizzle-kit `out` folder of the owning service (holds `meta/_journal.json`). */
  migrationsFolder: string;
  /** Tables and relations, so `db.query.<table>` is typed. */
  schema?: TSchema;
  log?: Logger;
}

export interface HalDatabase<TSchema extends DatabaseSchema = Record<string, never>> {
  /** The raw handle, for prepared statements on hot paths and for pragmas. */
  sqlite: Database.Database;
  db: BetterSQLite3Database<TSchema>;
  /** Closes the handle; calling it again does nothing. */
  close(): void;
}

/**
 * Opens (or creates) one service's SQLite file and brings its schema up to date.
 * Throws DatabaseUnreadableError when the file is not a database or is corrupt.
 */
export function openDatabase<TSchema extends DatabaseSchema = Record<string, never>>(
  opts: OpenDatabaseOptions<TSchema>,
): HalDatabase<TSchema> {
  if (opts.file !== ':memory:') createPrivately(opts.file);
  const sqlite = new Database(opts.file);
  try {
    // WAL lets the query side read while the projector writes; NORMAL sync is safe under WAL
    // (a power cut may lose the last transactions, never corrupt) and the stream can replay them.
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    sqlite.pragma('synchronous = NORMAL');
    sqlite.pragma('foreign_keys = ON');
    const db = (
      opts.schema === undefined
        ? drizzle({ client: sqlite })
        : drizzle({ client: sqlite, schema: opts.schema })
    ) as BetterSQLite3Database<TSchema>;
    migrate(db, { migrationsFolder: opts.migrationsFolder });
    opts.log?.info({ file: opts.file }, 'database opened');
    return {
      sqlite,
      db,
      close: () => {
        if (sqlite.open) sqlite.close();
      },
    };
  } catch (err) {
    sqlite.close();
    const code = unreadableCodeOf(err);
    if (code !== undefined) throw new DatabaseUnreadableError(opts.file, code, err);
    throw err;
  }
}

/**
 * These files hold prompts, titles and costs: readable by the service's user only, whatever
 * the umask. SQLite gives its -wal and -shm files the mode of the database file, so creating
 * (or tightening) the database file first covers all three. Folders it creates are 0700.
 */
function createPrivately(file: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  if (existsSync(file)) {
    chmodSync(file, 0o600);
    return;
  }
  // An empty file is a valid new database to SQLite; 'wx' never truncates a file created meanwhile.
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Deletes a database file with its WAL and shared-memory files, before a rebuild. */
export function removeDatabaseFiles(file: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${file}${suffix}`, { force: true });
}

import { ErrorCode, HalError } from '@hal/protocol';

/** SQLite result codes that mean "this file cannot be read as a database". */
const UNREADABLE_CODES = new Set(['SQLITE_NOTADB', 'SQLITE_CORRUPT']);

/**
 * The database file is not a database or is corrupt. Every table is a projection of
 * JetStream, so the owning service may delete the file and rebuild by replaying the stream;
 * that choice is the service's, hence a distinct type to branch on.
 */
export class DatabaseUnreadableError extends HalError {
  readonly file: string;
  /** `SQLITE_NOTADB` or `SQLITE_CORRUPT`. */
  readonly sqliteCode: string;

  constructor(file: string, sqliteCode: string, cause: unknown) {
    super(ErrorCode.UNAVAILABLE, `database file ${file} is unreadable (${sqliteCode})`, {
      details: { file, sqlite_code: sqliteCode },
      cause,
    });
    this.name = 'DatabaseUnreadableError';
    this.file = file;
    this.sqliteCode = sqliteCode;
  }
}

/** The SQLite code of an error thrown by better-sqlite3 when it says the file is unreadable. */
export function unreadableCodeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  const code = (err as { code: unknown }).code;
  if (typeof code !== 'string') return undefined;
  // Extended codes (e.g. SQLITE_CORRUPT_VTAB) carry the primary code as a prefix.
  for (const primary of UNREADABLE_CODES) {
    if (code === primary || code.startsWith(`${primary}_`)) return primary;
  }
  return undefined;
}

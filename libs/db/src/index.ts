// The public surface of @hal/db: open a service's SQLite file with its migrations applied.
export { DatabaseUnreadableError } from './database-unreadable-error.ts';
export {
  type HalDatabase,
  openDatabase,
  removeDatabaseFiles,
} from './open-database.ts';
export { dbReadinessCheck } from './readiness-check.ts';

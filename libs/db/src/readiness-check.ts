import type { ReadinessResult } from '@hal/observability';
import type { HalDatabase } from './open-database.ts';

/** A `/readyz` check: the handle is open and answers a trivial query. */
export function dbReadinessCheck(database: Pick<HalDatabase<never>, 'sqlite'>): () => ReadinessResult {
  return () => {
    if (!database.sqlite.open) return { ok: false, detail: 'database is closed' };
    try {
      database.sqlite.prepare('select 1').get();
      return { ok: true };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
  };
}

import { fileURLToPath } from 'node:url';

/** The drizzle-kit output folder, found from this module so it works from `src/` (tsx) and `dist/`. */
export const migrationsFolder = fileURLToPath(new URL('../drizzle', import.meta.url));

import { defineConfig } from 'drizzle-kit';

// bench/ is not a package, so drizzle-kit runs at the repository root:
// `npx drizzle-kit generate --config bench/db/drizzle.config.ts`.
/** @public read by drizzle-kit */
export default defineConfig({
  dialect: 'sqlite',
  schema: './bench/db/schema.ts',
  out: './bench/db/drizzle',
});

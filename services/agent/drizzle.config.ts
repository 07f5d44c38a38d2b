import { defineConfig } from 'drizzle-kit';

/** @public read by drizzle-kit */
export default defineConfig({ dialect: 'sqlite', schema: './src/schema.ts', out: './drizzle' });

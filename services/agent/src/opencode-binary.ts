import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where `node scripts/setup.mjs` puts the pinned opencode of a checkout (outside the npm lock). */
const CHECKOUT_OPENCODE = resolve(
  dirname(fileURLToPath(import.meta.url)),
  '../../../.tools/opencode/node_modules/.bin/opencode',
);

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The binary a managed agent launches. A configured path is used as is; a bare name is looked up on
 * PATH; when the default `opencode` is on no PATH and the agent runs from a checkout, the pinned
 * opencode set-up installed into .tools/opencode (the demo and the tests use that one too).
 */
export function resolveOpencodeBinary(configured: string, pathEnv = process.env.PATH ?? ''): string {
  if (configured.includes('/')) return configured;
  for (const dir of pathEnv.split(delimiter)) {
    if (dir !== '' && executable(join(dir, configured))) return configured;
  }
  if (configured === 'opencode' && executable(CHECKOUT_OPENCODE)) return CHECKOUT_OPENCODE;
  return configured;
}

// Shared by every workspace bin: run the compiled entry when the workspace was built
// (`npm run build`), else its TypeScript source through tsx. In source mode the `hal-source`
// export condition makes `@hal/*` imports resolve to `src/index.ts`, so no build is needed in dev.
// HAL_FROM_SOURCE=1 forces source mode even when a (possibly stale) dist/ exists.
import { existsSync } from 'node:fs';
import { register } from 'node:module';
import { fileURLToPath } from 'node:url';

/** `binUrl` is the bin's `import.meta.url`; the entry is `../dist/main.js` or `../src/main.ts` from it. */
export async function runEntry(binUrl) {
  const built = new URL('../dist/main.js', binUrl);
  // biome-ignore lint/suspicious/noUndeclaredEnvVars: read by the bins at run time, never by a turbo task
  if (process.env.HAL_FROM_SOURCE !== '1' && existsSync(fileURLToPath(built))) {
    await import(built.href);
    return;
  }
  // Registered before tsx: hooks run last-registered first, so tsx resolves TypeScript and then
  // hands over to this hook, which adds the condition before node's default resolver.
  register('./source-conditions-hook.mjs', import.meta.url);
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  await import(new URL('../src/main.ts', binUrl).href);
}

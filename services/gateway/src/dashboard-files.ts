import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Logger } from '@hal/observability';
import { ErrorCode, HalError } from '@hal/protocol';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * The page may load only its own files and talk only to its own origin; nothing inline, no
 * eval, no framing (clickjacking), no plugins, no forms posting elsewhere. Charts and the
 * virtual list set styles through the CSSOM, which style-src does not restrict.
 */
export const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ');

const PAGE_HEADERS = {
  'content-security-policy': DASHBOARD_CSP,
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

const TYPES: Readonly<Record<string, string>> = {
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
  png: 'image/png',
  woff2: 'font/woff2',
};
/** esbuild's `[name]-[hash].ext`: nothing else is ever served from assets/ (no dots, no slashes). */
const ASSET_NAME = /^[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*-[A-Z0-9]{8}\.(js|css|svg|png|woff2)$/;
const MAX_CACHED = 64;

/** Paths the dashboard owns; they answer without a token (the page asks for one). */
export function isDashboardPath(path: string): boolean {
  return path === '/' || path === '/index.html' || path.startsWith('/assets/');
}

/** `dist/` of the @hal/dashboard workspace package (its built files only; no code is imported). */
export function defaultDashboardDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@hal/dashboard/package.json')), 'dist');
  } catch {
    return undefined;
  }
}

interface Cached {
  body: Buffer;
  gzip: Buffer;
  mtimeMs: number;
}

function acceptsGzip(req: FastifyRequest): boolean {
  const header = req.headers['accept-encoding'];
  return typeof header === 'string' && /\bgzip\b/.test(header);
}

function send(req: FastifyRequest, reply: FastifyReply, file: Cached, type: string, cacheControl: string) {
  reply.headers(PAGE_HEADERS).header('content-type', type).header('cache-control', cacheControl);
  reply.header('vary', 'accept-encoding');
  if (acceptsGzip(req)) return reply.header('content-encoding', 'gzip').send(file.gzip);
  return reply.send(file.body);
}

/**
 * Serves the dashboard's static files at `/` (index.html, never cached) and `/assets/*` (hashed
 * names, cached for a year). Files are read once and kept with their gzip form; index.html is
 * re-read when a rebuild changed it, so `npm run build` needs no gateway restart.
 */
export function registerDashboard(app: FastifyInstance, dir: string, log: Logger): void {
  const cache = new Map<string, Cached>();
  const notBuilt = () =>
    new HalError(
      ErrorCode.UNAVAILABLE,
      `the dashboard is not built (no ${join(dir, 'index.html')}): run "npm run build -w @hal/dashboard" (npm start and npm test build it)`,
    );

  async function load(path: string, revalidate: boolean): Promise<Cached | undefined> {
    const hit = cache.get(path);
    if (hit !== undefined && !revalidate) return hit;
    let mtimeMs: number;
    try {
      mtimeMs = (await stat(path)).mtimeMs;
    } catch {
      return undefined;
    }
    if (hit !== undefined && hit.mtimeMs === mtimeMs) return hit;
    const body = await readFile(path);
    const file = { body, gzip: gzipSync(body), mtimeMs };
    if (cache.size >= MAX_CACHED) cache.clear();
    cache.set(path, file);
    return file;
  }

  const index = async (req: FastifyRequest, reply: FastifyReply) => {
    const file = await load(join(dir, 'index.html'), true);
    if (file === undefined) throw notBuilt();
    return send(req, reply, file, 'text/html; charset=utf-8', 'no-cache');
  };
  app.get('/', index);
  app.get('/index.html', index);
  app.get<{ Params: { file: string } }>('/assets/:file', async (req, reply) => {
    const name = req.params.file;
    const match = ASSET_NAME.exec(name);
    const file = match === null ? undefined : await load(join(dir, 'assets', name), false);
    if (match === null || file === undefined) {
      throw new HalError(ErrorCode.NOT_FOUND, `no dashboard file ${name}`);
    }
    return send(
      req,
      reply,
      file,
      TYPES[match[1] ?? ''] ?? 'application/octet-stream',
      'public, max-age=31536000, immutable',
    );
  });
  log.debug({ dir }, 'dashboard files served at /');
}

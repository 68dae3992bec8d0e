import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The dashboard's pages, served at the server's root. The dashboard is a single-page app: each of its
 * paths answers with the same index.html and the app draws the page. The paths are listed, not matched
 * with a wildcard, so an API typo still gets the API's JSON 404 instead of a page.
 */
export const DASHBOARD_PATHS = [
  '/',
  '/signin',
  '/approvals',
  '/approvals/:id',
  '/sessions',
  '/sessions/:id',
  '/audit',
  '/budgets',
  '/policy',
] as const;

/** Pages may load scripts, styles and data only from this server; nothing may frame them. */
const PAGE_HEADERS = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache',
};

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

/** Where the built dashboard is: the `dist` folder of `@warden/dashboard`, or undefined when not built. */
export function dashboardDir(): string | undefined {
  try {
    const pkg = createRequire(import.meta.url).resolve('@warden/dashboard/package.json');
    const dist = join(dirname(pkg), 'dist');
    return existsSync(join(dist, 'index.html')) ? dist : undefined;
  } catch {
    return undefined;
  }
}

/** Registers the dashboard's pages and its hashed assets (cached for a year: their names change with them). */
export function registerDashboard(app: FastifyInstance, dir: string | undefined = dashboardDir()): void {
  const index = dir ? readFileSync(join(dir, 'index.html')) : notBuiltPage();
  const page = async (_request: unknown, reply: FastifyReply) =>
    reply.headers(PAGE_HEADERS).type('text/html; charset=utf-8').send(index);
  for (const path of DASHBOARD_PATHS) app.get(path, page);
  app.get('/assets/:file', async (request, reply) => {
    const file = (request.params as { file: string }).file;
    // Only plain file names: no separators, no dot-dot, nothing outside the assets folder.
    if (!dir || !/^[\w.-]{1,200}$/.test(file) || file.startsWith('.')) return notFound(reply, file);
    const body = await readFile(join(dir, 'assets', file)).catch(() => undefined);
    if (!body) return notFound(reply, file);
    return reply
      .headers({
        'x-content-type-options': 'nosniff',
        'cache-control': 'public, max-age=31536000, immutable',
      })
      .type(TYPES[extname(file)] ?? 'application/octet-stream')
      .send(body);
  });
}

function notFound(reply: FastifyReply, file: string) {
  return reply.code(404).send({
    error: { code: 'NOT_FOUND', message: `no dashboard asset ${file}`, details: {} },
  });
}

/** What the root URL shows when the dashboard was never built: how to fix it, not a bare 404. */
function notBuiltPage(): Buffer {
  return Buffer.from(
    '<!doctype html><meta charset="utf-8"><title>Warden</title><h1>Warden is running</h1>' +
      '<p>The dashboard has not been built. Run <code>npm run build</code> (or <code>npm start</code>, which builds first) and restart the server.</p>' +
      '<p>The API is at <a href="/openapi.json">/openapi.json</a>.</p>',
  );
}

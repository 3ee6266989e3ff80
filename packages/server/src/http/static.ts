/**
 * Serves built pages for GET requests no API route took: the dashboard at `/` (a single-page
 * app: an unknown path that is not an API path and names no file gets its index.html, so
 * `/tasks/<id>` reloads into the app) and, beside it, other page folders (the demo's examples).
 */
import { readFile, stat } from 'node:fs/promises';
import { extname, join, resolve, sep } from 'node:path';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { TaskPulseError } from '@taskpulse/protocol';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

/** Paths that belong to the API: never answered with the app, whatever is missing. */
const API_PATH = /^\/(v1|healthz|readyz|metrics|openapi\.json)(\/|$)/;

export interface StaticOptions {
  /** Other folders searched for the requested file, after the app's. */
  dirs: string[];
  /** The single-page app's folder: its index.html answers unknown non-API paths. */
  app: string | null;
  /** Shown (HTML, 503) instead of the app when its folder has no index.html: how to build it. */
  missingAppHint?: string;
}

export function serveStatic(app: FastifyInstance, o: StaticOptions): void {
  // The app first: `/` is the dashboard even when another folder has an index.html.
  const roots = [...(o.app ? [o.app] : []), ...o.dirs].map((d) => resolve(d));
  app.get('/*', async (request, reply) => {
    let rel: string;
    try {
      rel = decodeURIComponent(request.url.split('?')[0]!);
    } catch {
      throw new TaskPulseError('invalid_request', 'the path is not valid');
    }
    if (rel.includes('\u0000')) throw new TaskPulseError('invalid_request', 'the path is not valid');
    if (rel.split(/[\\/]/).includes('..')) throw new TaskPulseError('not_found', `no file ${rel}`);
    for (const root of roots) {
      const file = await findFile(root, rel);
      if (file) return send(reply, file, /^\/assets\/.+-[A-Za-z0-9_-]{8,}\.\w+$/.test(rel));
    }
    // The app's asset paths are relative (it works wherever it is mounted), so a page opened at a
    // client-side route such as /tasks/<id> asks for /tasks/assets/<file>: serve the app's file.
    const asset = o.app ? /\/assets\/([^/]+)$/.exec(rel) : null;
    if (asset) {
      const file = await findFile(resolve(o.app!), `/assets/${asset[1]}`);
      if (file) return send(reply, file, /-[A-Za-z0-9_-]{8,}\.\w+$/.test(asset[1]!));
    }
    const lastSegment = rel.slice(rel.lastIndexOf('/') + 1);
    if (o.app && !API_PATH.test(rel) && !lastSegment.includes('.')) {
      const index = join(resolve(o.app), 'index.html');
      if ((await stat(index).catch(() => null))?.isFile()) return send(reply, index, false);
      if (o.missingAppHint) return reply.code(503).type('text/html; charset=utf-8').header('retry-after', '60').send(hintPage(o.missingAppHint));
    }
    // Browsers ask for /favicon.ico on any page without a <link rel="icon">: answer with the logo, not a 404.
    if (rel === '/favicon.ico') return reply.type('image/svg+xml').header('cache-control', 'public, max-age=86400').send(FAVICON_SVG);
    throw new TaskPulseError('not_found', `no file ${rel}`);
  });
}

/** The TaskPulse logo (the dashboard's header mark), answered at /favicon.ico when no folder has one. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="8" fill="#4f46e5"/><path d="M5 17h6l3-8 4 14 3-6h6" fill="none" stroke="white" stroke-width="2.5" stroke-linecap="round" stroke-linejoin="round"/></svg>\n';

/** The file `rel` names inside `root` (a folder's index.html), or null; never a path outside `root`. */
async function findFile(root: string, rel: string): Promise<string | null> {
  let file = resolve(root, '.' + rel);
  if (file !== root && !file.startsWith(root + sep)) return null;
  let info = await stat(file).catch(() => null);
  if (info?.isDirectory()) {
    file = resolve(file, 'index.html');
    info = await stat(file).catch(() => null);
  }
  return info?.isFile() ? file : null;
}

async function send(reply: FastifyReply, file: string, immutable: boolean) {
  // Hashed build assets never change; everything else is checked on every load.
  reply.type(TYPES[extname(file)] ?? 'application/octet-stream').header('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
  return reply.send(await readFile(file));
}

function hintPage(hint: string): string {
  const esc = hint.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>TaskPulse</title></head>
<body style="font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem"><h1>TaskPulse is running</h1><p>The API answers under <code>/v1</code>. The dashboard is not built:</p><pre style="white-space:pre-wrap;background:#f3f4f6;padding:1rem;border-radius:8px">${esc}</pre></body></html>\n`;
}

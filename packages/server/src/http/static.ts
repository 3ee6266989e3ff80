/** Serves a folder of built pages (the dashboard, the demo's example pages) for GET requests no API route took. */
import { readFile, stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { TaskPulseError } from '@taskpulse/protocol';

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8', '.json': 'application/json', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.map': 'application/json', '.txt': 'text/plain; charset=utf-8', '.woff2': 'font/woff2',
};

export function serveStatic(app: FastifyInstance, dir: string): void {
  const root = resolve(dir);
  app.get('/*', async (request, reply) => {
    let rel: string;
    try {
      rel = decodeURIComponent(request.url.split('?')[0]!);
    } catch {
      throw new TaskPulseError('invalid_request', 'the path is not valid');
    }
    if (rel.includes('\u0000')) throw new TaskPulseError('invalid_request', 'the path is not valid');
    let file = resolve(root, '.' + rel);
    if (file !== root && !file.startsWith(root + sep)) throw new TaskPulseError('not_found', `no file ${rel}`);
    let info = await stat(file).catch(() => null);
    if (info?.isDirectory()) {
      file = resolve(file, 'index.html');
      info = await stat(file).catch(() => null);
    }
    if (!info?.isFile()) throw new TaskPulseError('not_found', `no file ${rel}`);
    reply.type(TYPES[extname(file)] ?? 'application/octet-stream').header('cache-control', 'no-cache');
    return reply.send(await readFile(file));
  });
}

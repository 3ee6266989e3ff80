/**
 * The page's origin in the browser tests: serves the built example pages and proxies `/v1/*`
 * to the TaskPulse server, so the pages use their default (same origin). It can fail the event
 * stream the way networks do, and counts stream requests:
 *
 * - `pass`: the stream is forwarded byte for byte.
 * - `stall`: a new stream gets its 200 headers and then nothing, ever (a buffering proxy); a
 *   stream already open stops forwarding bytes but stays open. The socket is never closed.
 * - `block`: a new stream is refused with 502; streams already open are cut.
 *
 * Every other request (snapshot, polls, notifications) always passes.
 */
import { readFile, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { extname, join, normalize } from 'node:path';

export type StreamMode = 'pass' | 'stall' | 'block';

export interface Gateway {
  /** `http://127.0.0.1:<port>` */
  readonly origin: string;
  /** Stream requests received (`GET /v1/stream`). */
  readonly streamRequests: number;
  /** Streams open towards the browser now. */
  readonly openStreams: number;
  /** Every API request forwarded or refused, in order (`GET /v1/events?after=…`). */
  readonly apiRequests: readonly string[];
  setStreamMode(mode: StreamMode): void;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

interface OpenStream {
  /** Set once the stream stopped forwarding: dropped bytes cannot be resumed coherently. */
  stalled: boolean;
  cut(): void;
}

/**
 * @param staticDir - the built pages (`buildExamples`)
 * @param upstream - the TaskPulse server's base URL; `null` serves pages only
 */
export async function startGateway(staticDir: string, upstream: string | null): Promise<Gateway> {
  let mode: StreamMode = 'pass';
  let streamRequests = 0;
  const apiRequests: string[] = [];
  const streams = new Set<OpenStream>();
  const sockets = new Set<Socket>();

  const serveStatic = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    let file = join(staticDir, path);
    try {
      if ((await stat(file)).isDirectory()) file = join(file, 'index.html');
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  };

  const proxy = (req: http.IncomingMessage, res: http.ServerResponse, isStream: boolean) => {
    const target = new URL(req.url ?? '/', upstream!);
    const headers = { ...req.headers, host: target.host };
    const upstreamReq = http.request(target, { method: req.method, headers }, (up) => {
      if (!isStream) {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
        return;
      }
      const stream: OpenStream = {
        stalled: mode === 'stall',
        cut: () => {
          up.destroy();
          res.destroy();
        },
      };
      streams.add(stream);
      res.on('close', () => {
        streams.delete(stream);
        up.destroy();
      });
      res.writeHead(up.statusCode ?? 502, up.headers);
      res.flushHeaders();
      up.on('data', (chunk: Buffer) => {
        if (mode !== 'pass') stream.stalled = true;
        if (!stream.stalled) res.write(chunk);
      });
      up.on('end', () => {
        if (!stream.stalled) res.end();
      });
      up.on('error', () => res.destroy());
    });
    upstreamReq.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstreamReq);
  };

  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (upstream !== null && (path.startsWith('/v1/') || path === '/healthz')) {
      const isStream = path === '/v1/stream';
      apiRequests.push(`${req.method} ${req.url}`);
      if (isStream) {
        streamRequests++;
        if (mode === 'block') {
          res.writeHead(502, { 'content-type': 'text/plain' });
          res.end('streams are blocked here');
          return;
        }
      }
      proxy(req, res, isStream);
      return;
    }
    void serveStatic(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  let closing: Promise<void> | null = null;
  return {
    origin,
    get streamRequests() {
      return streamRequests;
    },
    get openStreams() {
      return streams.size;
    },
    apiRequests,
    setStreamMode(next) {
      mode = next;
      if (next === 'block') for (const s of [...streams]) s.cut();
    },
    close: () =>
      (closing ??= new Promise<void>((resolve) => {
        for (const s of [...streams]) s.cut();
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      })),
  };
}

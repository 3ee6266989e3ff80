/**
 * Integration support: the real TaskPulse server on a free port with a throwaway SQLite file,
 * a worker driven over plain HTTP with the admin key, and an HTTP proxy that can stall streams.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Task } from '@taskpulse/protocol';
import { startServer } from '@taskpulse/server';

export const ADMIN = 'tpk_client_integration_admin_0123456789';

export interface RealServer {
  url: string;
  port: number;
  db: string;
  close(): Promise<void>;
}

/** `now`: the server's clock (`ServerOptions.now`), for a test that expires a token without waiting. */
export async function startRealServer(options: { port?: number; db?: string; heartbeatMs?: number; now?: () => number } = {}): Promise<RealServer & { dir: string }> {
  const dir = options.db ? '' : mkdtempSync(join(tmpdir(), 'taskpulse-client-'));
  const db = options.db ?? join(dir, 'test.db');
  const s = await startServer({ port: options.port ?? 0, db, adminKey: ADMIN, heartbeatMs: options.heartbeatMs ?? 500, logLevel: 'silent', now: options.now });
  return {
    url: s.url,
    port: s.port,
    db,
    dir,
    close: async () => {
      await s.close();
    },
  };
}

export function removeDir(dir: string): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** Admin-key HTTP against `base()` (a function, so a restarted server on the same port works). */
export function adminApi(base: () => string) {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const send = () =>
      fetch(base() + path, {
        method,
        headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    // After a restart on the same port, requests may ride pooled keep-alive sockets of the old
    // server ("other side closed"): they never reached a server, so sending again is safe.
    let res: Response | undefined;
    for (let attempt = 0; res === undefined; attempt++) {
      try {
        res = await send();
      } catch (error) {
        if (attempt >= 10 || (error as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw error;
      }
    }
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    call,
    /** A viewer token for `owner`. */
    token: async (owner: string, ttlSeconds = 3600) => (await call<{ token: string }>('POST', '/v1/tokens', { owner, ttlSeconds })).token,
    /** Creates a task already running (as an existing queue would) and returns it with its lease. */
    start: async (owner: string, type = 'client-it') => {
      const r = await call<{ task: Task; lease: { token: string } }>('POST', '/v1/tasks', { type, owner, start: true });
      return { id: r.task.id, lease: r.lease.token };
    },
    progress: (t: { id: string; lease: string }, done: number, total = 100) =>
      call<{ seq: number }>('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, done, total }),
    complete: (t: { id: string; lease: string }, result: unknown = { ok: true }) =>
      call<Task>('POST', `/v1/tasks/${t.id}/complete`, { lease: t.lease, result }),
    /** Every event `owner` may see, as the server's log holds them. */
    eventSeqs: async (viewerToken: string) => {
      const seqs: number[] = [];
      let after = 0;
      for (;;) {
        const res = await fetch(`${base()}/v1/events?after=${after}&limit=1000`, { headers: { authorization: `Bearer ${viewerToken}` } });
        const page = (await res.json()) as { events: { seq: number }[]; head: number };
        seqs.push(...page.events.map((e) => e.seq));
        if (page.events.length < 1000) return seqs;
        after = page.events.at(-1)!.seq;
      }
    },
  };
}

/**
 * An HTTP proxy in front of the server. `stall(true)` makes every `/v1/stream` response — open
 * ones and new ones — keep its socket open and forward nothing more (headers of a new stream
 * still pass, as with a buffering proxy); other requests pass untouched.
 */
export async function startStallingProxy(target: string) {
  const upstream = new URL(target);
  let stalled = false;
  const streams = new Set<http.ServerResponse>();
  const sockets = new Set<Socket>();
  const counts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const isStream = req.url?.startsWith('/v1/stream') ?? false;
    const path = (req.url ?? '').split('?')[0]!;
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (ures) => {
        res.writeHead(ures.statusCode ?? 502, ures.headers);
        if (isStream) {
          res.flushHeaders();
          streams.add(res);
        }
        ures.on('data', (chunk: Buffer) => {
          if (isStream && stalled) return; // swallowed: the socket stays open, nothing arrives
          res.write(chunk);
        });
        ures.on('end', () => {
          if (!(isStream && stalled)) res.end();
        });
      },
    );
    up.on('error', () => res.destroy());
    res.on('close', () => {
      streams.delete(res);
      up.destroy();
    });
    req.pipe(up);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    stall(value: boolean) {
      stalled = value;
    },
    get openStreams() {
      return streams.size;
    },
    /** Requests seen, by path. */
    counts,
    /** Cuts every open stream (a proxy timeout, a load balancer restart). */
    killStreams() {
      for (const res of streams) res.destroy();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

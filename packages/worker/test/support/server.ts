/** A real TaskPulse server on a free port with its own SQLite file, for integration tests. */
import { startServer } from '@taskpulse/server';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FetchLike } from '../../src/http.ts';

export interface TestServer {
  url: string;
  adminKey: string;
  /** A worker API key created over HTTP. */
  workerKey: string;
  /** JSON request with a credential (admin key by default); returns status and parsed body. */
  api<T = any>(method: string, path: string, body?: unknown, credential?: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

export async function startTestServer(options: { leaseMs?: number; reaperIntervalMs?: number } = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-worker-'));
  const adminKey = `tpk_admin_${Math.random().toString(36).slice(2)}`;
  const server = await startServer({ port: 0, host: '127.0.0.1', db: join(dir, 'test.db'), adminKey, logLevel: 'silent', reaperIntervalMs: options.reaperIntervalMs ?? 100, ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}) });
  const url = server.url.replace(/\/+$/, '');
  const api = async <T>(method: string, path: string, body?: unknown, credential = adminKey) => {
    const response = await fetch(url + path, {
      method,
      headers: { authorization: `Bearer ${credential}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const created = await api<{ key: string }>('POST', '/v1/keys', { role: 'worker', name: 'worker-tests' });
  if (created.status !== 201) throw new Error(`could not create a worker key: ${created.status} ${JSON.stringify(created.body)}`);
  return {
    url,
    adminKey,
    workerKey: created.body.key,
    api,
    close: async () => {
      // Seen here: now and then server.close() waits on one connection that carried no request
      // (a client aborted while connecting), until Node's headersTimeout (~60 s) reaps it.
      // Every client is closed by now, so after a grace period cut what is left.
      const httpServer = (server.server as unknown as { app: { server: { closeAllConnections(): void } } }).app.server;
      const grace = setTimeout(() => httpServer.closeAllConnections(), 2000);
      await server.close();
      clearTimeout(grace);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Wraps `fetch`, counting requests by path (method + path without the host). */
export function countingFetch(inner: FetchLike = globalThis.fetch as unknown as FetchLike) {
  const counts = new Map<string, number>();
  const log: Array<{ at: number; key: string }> = [];
  const fetch: FetchLike = (input, init) => {
    const key = `${init.method} ${new URL(input).pathname}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
    log.push({ at: Date.now(), key });
    return inner(input, init);
  };
  return { fetch, counts, log, count: (re: RegExp) => [...counts].filter(([k]) => re.test(k)).reduce((a, [, n]) => a + n, 0) };
}

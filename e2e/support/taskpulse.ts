/** The real TaskPulse server for the browser tests, and a worker played over plain HTTP. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Notification, Task } from '@taskpulse/protocol';
import { startServer } from '@taskpulse/server';

export const ADMIN = 'tpk_e2e_web_admin_key_0123456789';

/** Heartbeat of the test server: short, so a stalled stream is noticed in ~2 s (client SPEC 4). */
export const HEARTBEAT_MS = 1000;

export interface TestServer {
  url: string;
  close(): Promise<void>;
}

export async function startTaskPulse(corsOrigins: string[]): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-e2e-web-'));
  const s = await startServer({ port: 0, db: join(dir, 'e2e.db'), adminKey: ADMIN, heartbeatMs: HEARTBEAT_MS, corsOrigins, logLevel: 'silent' });
  let closing: Promise<void> | null = null;
  return {
    url: s.url,
    close: () =>
      (closing ??= (async () => {
        try {
          await s.close();
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      })()),
  };
}

/** A running task and its lease, as a worker holds it. */
export interface Running {
  id: string;
  lease: string;
}

/** A report and when the server acknowledged it (the change was durable by then). */
export interface Ack {
  seq: number;
  sentAt: number;
  ackAt: number;
}

/** Admin-key calls: what a backend and a worker would do. */
export function workerApi(base: string) {
  const call = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(base + path, {
      method,
      headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    /** A viewer token for `owner` (what the app's backend hands the browser), valid `ttlSeconds`. */
    token: async (owner: string, ttlSeconds = 3600) => (await call<{ token: string }>('POST', '/v1/tokens', { owner, ttlSeconds })).token,
    /** Creates a task already running, with two equal stages. */
    start: async (owner: string, type = 'pdf-import'): Promise<Running> => {
      const r = await call<{ task: Task; lease: { token: string } }>('POST', '/v1/tasks', {
        type,
        owner,
        start: true,
        stages: [
          { key: 'fetch', label: 'Fetching' },
          { key: 'parse', label: 'Parsing pages' },
        ],
      });
      return { id: r.task.id, lease: r.lease.token };
    },
    progress: async (t: Running, report: { done?: number; total?: number; stage?: string; message?: string }): Promise<Ack> => {
      const sentAt = Date.now();
      const r = await call<{ seq: number }>('POST', `/v1/tasks/${t.id}/progress`, { lease: t.lease, ...report });
      return { seq: r.seq, sentAt, ackAt: Date.now() };
    },
    complete: (t: Running, result: unknown = { pages: 10 }) => call<Task>('POST', `/v1/tasks/${t.id}/complete`, { lease: t.lease, result }),
    task: (id: string) => call<Task>('GET', `/v1/tasks/${id}`),
    notifications: async (owner: string) =>
      (await call<{ notifications: Notification[] }>('GET', `/v1/notifications?owner=${encodeURIComponent(owner)}`)).notifications,
  };
}

/**
 * Test support: a server with a throwaway SQLite file, either built and reached through
 * `app.inject()` (REST tests: {@link buildTestServer}) or listening on a free port (streams, SDKs,
 * real sockets: {@link startTestServer}), with the same `api` helper on both; plus an SSE reader.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { buildServer, startServer, type ServerOptions, type TaskPulseServer } from '../src/index.ts';

export const ADMIN = 'test_admin_key_0123456789';

/** The shared test PostgreSQL (never stopped or reconfigured by a test). */
export const PG_URL = process.env.TASKPULSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** Runs one statement on the test PostgreSQL over a connection of its own. */
export async function pgAdmin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

/** A fresh schema (dropped by the cleanup it registers) and a connection string whose connections use it. */
export async function freshSchema(cleanups: (() => Promise<unknown>)[]): Promise<{ schema: string; url: string }> {
  const schema = `tp_${randomBytes(6).toString('hex')}`;
  await pgAdmin(`CREATE SCHEMA "${schema}"`);
  cleanups.push(() => pgAdmin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  const url = new URL(PG_URL);
  url.searchParams.set('options', `-c search_path=${schema}`);
  return { schema, url: url.toString() };
}

/** An answer as the tests read it: the status, the body parsed as JSON (else the text, or null when empty), the raw text, the headers. */
export interface ApiAnswer<T = any> {
  status: number;
  body: T;
  text: string;
  headers: Headers;
}

/**
 * One request with the API's conventions: `credential` as the bearer (the admin key unless given;
 * `''` or `null` sends none), a JSON body (a string is sent as it is), extra `headers` last.
 */
export type Api = <T = any>(method: string, path: string, body?: unknown, credential?: string | null, headers?: Record<string, string>) => Promise<ApiAnswer<T>>;

/** What every test server offers, listening or not. */
export interface TestHandle {
  dir: string;
  db: string;
  server: TaskPulseServer;
  api: Api;
  /** Mints a viewer token for `owner` (optionally for some tasks only). */
  viewerToken(owner: string, ttlSeconds?: number, taskIds?: string[]): Promise<string>;
  /** Closes the server and removes its directory. */
  close(): Promise<void>;
}

/** A server listening on a free port: for streams, the SDKs, and whatever needs a real socket. */
export interface TestServer extends TestHandle {
  url: string;
}

/**
 * A server that is built but not listening: `api` goes through Fastify's `inject()` (no socket, no
 * HTTP client), which is all a REST test needs. `listen()` opens a port for the odd test in the
 * same file that needs one (an SSE stream, the body-drain race of a real upload).
 */
export interface TestApp extends TestHandle {
  /** Listens on a free port (once) and returns the URL. */
  listen(): Promise<string>;
}

type Send = (method: string, path: string, headers: Record<string, string>, body: string | undefined) => Promise<{ status: number; text: string; headers: Headers }>;

function apiOver(send: Send): Api {
  return async (method, path, body, credential = ADMIN, headers = {}) => {
    const res = await send(
      method,
      path,
      {
        ...(credential ? { authorization: `Bearer ${credential}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    );
    let parsed: unknown = res.text;
    try {
      parsed = res.text ? JSON.parse(res.text) : null;
    } catch {
      // not JSON: keep the text
    }
    return { status: res.status, body: parsed as never, text: res.text, headers: res.headers };
  };
}

function handle(server: TaskPulseServer, dir: string, db: string, api: Api): TestHandle {
  return {
    dir,
    db,
    server,
    api,
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
    viewerToken: async (owner, ttlSeconds, taskIds) => {
      const r = await api('POST', '/v1/tokens', { owner, ttlSeconds, taskIds });
      if (r.status !== 201) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
      return (r.body as { token: string }).token;
    },
  };
}

const testOptions = (db: string, options: ServerOptions): ServerOptions => ({ port: 0, db, adminKey: ADMIN, logLevel: 'silent', ...options });

export async function startTestServer(options: ServerOptions = {}, dir = mkdtempSync(join(tmpdir(), 'taskpulse-'))): Promise<TestServer> {
  const db = join(dir, 'test.db');
  const s = await startServer(testOptions(db, options));
  const api = apiOver(async (method, path, headers, body) => {
    const res = await fetch(s.url + path, { method, headers, body });
    return { status: res.status, text: await res.text(), headers: res.headers };
  });
  return { ...handle(s.server, dir, db, api), url: s.url };
}

/** Builds a server without listening, started (reaper, health checks, webhooks) as `listen()` would; see {@link TestApp}. */
export async function buildTestServer(options: ServerOptions = {}, dir = mkdtempSync(join(tmpdir(), 'taskpulse-'))): Promise<TestApp> {
  const db = join(dir, 'test.db');
  const server = await buildServer(testOptions(db, options));
  await server.start();
  const api = apiOver(async (method, path, headers, body) => {
    const res = await server.app.inject({ method: method as never, url: path, headers, payload: body });
    const h = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (Array.isArray(value)) for (const v of value) h.append(name, v);
      else if (value !== undefined) h.set(name, String(value));
    }
    return { status: res.statusCode, text: res.payload, headers: h };
  });
  let url: Promise<string> | null = null;
  return { ...handle(server, dir, db, api), listen: () => (url ??= server.listen()) };
}

/**
 * A clock that stands still but for `advance`: nothing the server schedules by time (health
 * deadlines, lease expiry) comes due on its own, however long a test runs on a loaded machine.
 */
export function manualClock(start = Date.now()): { now: () => number; advance(ms: number): void } {
  let at = start;
  return { now: () => at, advance: (ms) => void (at += ms) };
}

/**
 * A clock for `ServerOptions.now`: real time plus whatever the test has skipped with `advance`,
 * so what reads it (tokens, the key cache, the stream hub) sees time pass without the test
 * sleeping, while it still moves on its own like the rest of the server's time.
 */
export function skippingClock(): { now: () => number; advance(ms: number): void } {
  let skipped = 0;
  return { now: () => Date.now() + skipped, advance: (ms) => void (skipped += ms) };
}

export interface SseEvent {
  id: string | null;
  event: string;
  data: string;
  retry?: number;
}

/** A minimal SSE reader over fetch streaming (the real client SDK has its own, tested separately). */
export class SseReader {
  readonly events: SseEvent[] = [];
  readonly #controller = new AbortController();
  #waiters: (() => void)[] = [];
  ended = false;
  status = 0;
  headers: Headers | null = null;
  retry: number | null = null;

  static async open(url: string, credential: string | null, headers: Record<string, string> = {}): Promise<SseReader> {
    const r = new SseReader();
    const res = await fetch(url, {
      headers: { ...(credential ? { authorization: `Bearer ${credential}` } : {}), ...headers },
      signal: r.#controller.signal,
    });
    r.status = res.status;
    r.headers = res.headers;
    if (!res.ok || !res.body) {
      r.ended = true;
      return r;
    }
    void r.#pump(res.body);
    return r;
  }

  async #pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: SseEvent = { id: null, event: 'message', data: '' };
          const data: string[] = [];
          for (const line of block.split('\n')) {
            const c = line.indexOf(':');
            const field = c < 0 ? line : line.slice(0, c);
            const value = c < 0 ? '' : line.slice(c + 1).replace(/^ /, '');
            if (field === 'id') ev.id = value;
            else if (field === 'event') ev.event = value;
            else if (field === 'data') data.push(value);
            else if (field === 'retry') this.retry = Number(value);
          }
          ev.data = data.join('\n');
          if (data.length > 0) this.events.push(ev);
          this.#wake();
        }
      }
    } catch {
      // aborted or reset
    } finally {
      this.ended = true;
      this.#wake();
    }
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /** Waits until `pred` holds over the events received so far (or the stream ends). */
  async until(pred: (events: SseEvent[]) => boolean, timeoutMs = 15_000): Promise<SseEvent[]> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.events)) {
      if (this.ended) throw new Error(`stream ended before the condition held; got ${this.events.map((e) => e.event + '#' + e.id).join(', ')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${this.events.map((e) => e.event + '#' + e.id).join(', ')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
    return this.events;
  }

  async untilEnded(timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      if (Date.now() > deadline) throw new Error('stream did not end');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 200);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Task/notification events only (no snapshot/heartbeat/reset), parsed. */
  data(): any[] {
    return this.events.filter((e) => e.event.startsWith('task.') || e.event.startsWith('notification.')).map((e) => JSON.parse(e.data));
  }

  close(): void {
    this.#controller.abort();
  }
}

/** Creates a task and claims it; returns the task id and lease token. */
export async function runningTask(t: Pick<TestHandle, 'api'>, body: Record<string, unknown> = {}): Promise<{ id: string; lease: string }> {
  const type = (body.type as string) ?? `t_${Math.random().toString(36).slice(2, 8)}`;
  const c = await t.api('POST', '/v1/tasks', { type, owner: 'u1', ...body, start: true });
  if (c.status !== 201) throw new Error(`create: ${c.status} ${JSON.stringify(c.body)}`);
  return { id: c.body.task.id, lease: c.body.lease.token };
}

/**
 * A `delta=true` stream's events made whole from its snapshot and earlier events, as the client
 * SDK does; every event the stream carried (task and notification), parsed. Throws when a delta's
 * `base` is not the task the stream last sent (the server's promise).
 */
export function resolveDeltas(frames: readonly { event: string; data: string }[]): any[] {
  const held = new Map<string, any>();
  const out: any[] = [];
  for (const m of frames) {
    if (m.event === 'snapshot') for (const task of JSON.parse(m.data).tasks) held.set(task.id, task);
    if (!m.event.startsWith('task.') && !m.event.startsWith('notification.')) continue;
    const e = JSON.parse(m.data);
    if (e.task !== undefined) {
      if (e.base !== undefined) {
        if (held.get(e.taskId)?.seq !== e.base) throw new Error(`event ${e.seq}: delta from ${e.base}, the stream last sent ${held.get(e.taskId)?.seq}`);
        e.task = { ...held.get(e.taskId), ...e.task };
        delete e.base;
      }
      held.set(e.taskId, e.task);
    }
    out.push(e);
  }
  return out;
}

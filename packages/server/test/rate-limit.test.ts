// Rate limits (issue 8, item 11): 429 `rate_limited` with retry-after, per credential and per IP,
// on stream opens, shared across instances through Redis, never a 500 when Redis is down, and
// the worker SDK rides through a 429.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { createWorker } from '@taskpulse/worker';
import type { ServerOptions } from '../src/index.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { ADMIN, buildTestServer, type ApiAnswer, type TestApp } from './support.ts';
import { startRedis } from './faults/support.ts';
import { WindowCounts } from '../src/http/rate-limit.ts';

const REDIS_URL = process.env.TASKPULSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function server(options: ServerOptions): Promise<TestApp> {
  const t = await buildTestServer(options);
  cleanups.push(() => t.close());
  return t;
}

async function workerKey(t: TestApp, name: string): Promise<string> {
  const r = await t.api('POST', '/v1/keys', { role: 'worker', name });
  expect(r.status).toBe(201);
  return r.body.key as string;
}

/** Calls until the first non-200; returns how many got through and the refusal. */
async function untilRefused(call: () => Promise<{ status: number }>, max = 50) {
  for (let ok = 0; ok < max; ok++) {
    const r = await call();
    if (r.status !== 200) return { ok, refusal: r as ApiAnswer };
  }
  throw new Error(`never refused after ${max} calls`);
}

/** Opens a stream over a real socket (an accepted stream never ends, so not through inject). */
async function openStream(t: TestApp, credential: string): Promise<{ status: number; body: any; headers: Headers; close(): void }> {
  const abort = new AbortController();
  const res = await fetch(`${await t.listen()}/v1/stream?after=0`, { headers: { authorization: `Bearer ${credential}` }, signal: abort.signal });
  const body = res.status === 200 ? null : await res.json();
  return { status: res.status, body, headers: res.headers, close: () => abort.abort() };
}

function expectRateLimited(r: { status: number; body: any; headers: Headers }, scope: 'ip' | 'credential', limit: number) {
  expect(r.status).toBe(429);
  expect(r.body).toEqual({ error: { code: 'rate_limited', message: expect.stringMatching(/too many/), details: { limit, windowMs: 60_000, scope } } });
  const after = Number(r.headers.get('retry-after'));
  expect(after).toBeGreaterThanOrEqual(1);
  expect(after).toBeLessThanOrEqual(60);
}

describe('WindowCounts (the in-memory count)', () => {
  it('counts hits in fixed windows that start at a key\'s first hit', () => {
    const w = new WindowCounts(10);
    expect(w.hit('a', 1000, 5_000)).toEqual({ count: 1, ttlMs: 1000 });
    expect(w.hit('a', 1000, 5_400)).toEqual({ count: 2, ttlMs: 600 });
    expect(w.hit('b', 1000, 5_400)).toEqual({ count: 1, ttlMs: 1000 });
    expect(w.hit('a', 1000, 5_999)).toEqual({ count: 3, ttlMs: 1 });
    expect(w.hit('a', 1000, 6_000)).toEqual({ count: 1, ttlMs: 1000 }); // a new window
  });

  it('keeps at most its capacity of keys, forgetting the oldest window first', () => {
    const w = new WindowCounts(2);
    w.hit('a', 1000, 0);
    w.hit('b', 1000, 10);
    w.hit('a', 1000, 1000); // a's window restarts: now the newest
    w.hit('c', 1000, 1010); // b, the oldest window, is forgotten
    expect(w.hit('a', 1000, 1020).count).toBe(2);
    expect(w.hit('c', 1000, 1020).count).toBe(2);
    expect(w.hit('b', 1000, 1020).count).toBe(1);
  });
});

describe('rate limits', () => {
  it('answers 429 rate_limited with retry-after past the per-credential limit; each API key has its own count', async () => {
    const t = await server({ rateLimitPerCredential: 5 });
    const a = await workerKey(t, 'a');
    const b = await workerKey(t, 'b');
    const first = await untilRefused(() => t.api('GET', '/v1/tasks', undefined, a));
    expect(first.ok).toBe(5);
    expectRateLimited(first.refusal, 'credential', 5);
    // Key b is counted apart: its five requests get through, then it is refused too.
    const second = await untilRefused(() => t.api('GET', '/v1/tasks', undefined, b));
    expect(second.ok).toBe(5);
    // Public routes are not counted per credential; health checks are never limited.
    expect((await t.api('GET', '/healthz', undefined, a)).status).toBe(200);
    // The contract: every /v1/ route documents its 429 and retry-after.
    const doc = (await t.api('GET', '/openapi.json', undefined, '')).body;
    expect(doc.paths['/v1/tasks'].get.responses['429'].headers['retry-after']).toBeDefined();
    expect(doc.paths['/v1/stream'].get.responses['429']).toBeDefined();
    expect(doc.paths['/healthz'].get.responses['429']).toBeUndefined();
  });

  it('limits a client IP whatever credential it sends (bad ones included)', async () => {
    const t = await server({ rateLimitPerIp: 6 });
    const a = await workerKey(t, 'a'); // requests 1–2 (the admin's)
    await workerKey(t, 'b');
    expect((await t.api('GET', '/v1/tasks', undefined, 'tp_not_a_key')).status).toBe(401); // 3
    const r = await untilRefused(() => t.api('GET', '/v1/tasks', undefined, a));
    expect(r.ok).toBe(3);
    expectRateLimited(r.refusal, 'ip', 6);
    expect((await t.api('GET', '/healthz', undefined, '')).status).toBe(200);
  });

  it('counts per client behind a trusted proxy (X-Forwarded-For), and ignores the header from anyone else', async () => {
    const trusted = await server({ rateLimitPerIp: 3, trustProxy: ['127.0.0.1'] });
    const from = (ip: string) => () => trusted.api('GET', '/v1/tasks', undefined, ADMIN, { 'x-forwarded-for': ip });
    const first = await untilRefused(from('203.0.113.7'));
    expect(first.ok).toBe(3);
    expectRateLimited(first.refusal, 'ip', 3);
    expect((await from('203.0.113.8')()).status).toBe(200); // another client behind the same proxy

    const untrusted = await server({ rateLimitPerIp: 3 });
    const spoof = (n: number) => () => untrusted.api('GET', '/v1/tasks', undefined, ADMIN, { 'x-forwarded-for': `198.51.100.${n}` });
    expect((await spoof(1)()).status).toBe(200);
    expect((await spoof(2)()).status).toBe(200);
    expect((await spoof(3)()).status).toBe(200);
    expectRateLimited(await spoof(4)(), 'ip', 3);
  });

  it('limits stream opens per credential apart from other requests', async () => {
    const t = await server({ rateLimitStreamsPerCredential: 2 });
    const key = await workerKey(t, 's');
    const open = [await openStream(t, key), await openStream(t, key)];
    expect(open.map((s) => s.status)).toEqual([200, 200]);
    const third = await openStream(t, key);
    expectRateLimited(third, 'credential', 2);
    expect(third.body.error.message).toMatch(/opening streams/);
    expect((await t.api('GET', '/v1/tasks', undefined, key)).status).toBe(200); // other requests still pass
    expect((await openStream(t, ADMIN)).status).toBe(200); // another credential still opens streams
    for (const s of open) s.close();
  });

  it('limits stream opens per IP', async () => {
    const t = await server({ rateLimitStreamsPerIp: 2 });
    const a = await workerKey(t, 'a');
    const open = [await openStream(t, a), await openStream(t, ADMIN)];
    expect(open.map((s) => s.status)).toEqual([200, 200]);
    expectRateLimited(await openStream(t, a), 'ip', 2);
    for (const s of open) s.close();
  });

  it('shares the counts across instances through Redis', async () => {
    const shared: ServerOptions = {
      redisUrl: REDIS_URL,
      redisChannel: `tp-test-${randomBytes(6).toString('hex')}`,
      rateLimitRedisPrefix: `tp-test-rl-${randomBytes(6).toString('hex')}:`,
      rateLimitPerCredential: 6,
      secret: 'shared-secret-0123456789abcdef',
    };
    const a = await server(shared);
    const b = await server(shared);
    // The same admin key on both: 3 + 3 requests use the deployment's 6.
    for (let i = 0; i < 3; i++) expect((await a.api('GET', '/v1/tasks')).status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await b.api('GET', '/v1/tasks')).status).toBe(200);
    expectRateLimited(await a.api('GET', '/v1/tasks'), 'credential', 6);
    expectRateLimited(await b.api('GET', '/v1/tasks'), 'credential', 6);
  });

  it('counts in memory when Redis is down: limits still hold, nothing answers 500', async () => {
    const redis = await startRedis();
    cleanups.push(() => redis.stop());
    const t = await server({ redisUrl: redis.url, rateLimitPerCredential: 8, rateLimitRedisPrefix: 'rl:' });
    for (let i = 0; i < 3; i++) expect((await t.api('GET', '/v1/tasks')).status).toBe(200);
    await redis.kill();
    // The in-memory count starts afresh (it never saw the first three): 8 more, then 429.
    const r = await untilRefused(() => t.api('GET', '/v1/tasks'));
    expect(r.ok).toBe(8);
    expectRateLimited(r.refusal, 'credential', 8);
  });

  it('the worker SDK waits out a 429 and goes on', async () => {
    const t = await server({ rateLimitPerCredential: 4, rateLimitWindowMs: 1000 });
    const key = await workerKey(t, 'w');
    const statuses: number[] = [];
    const created = await t.api('POST', '/v1/tasks', { type: 'limited', owner: 'u1' });
    const worker = createWorker({
      url: await t.listen(), apiKey: key, types: ['limited'], claimWaitMs: 200, throttleMs: 0, retryBaseMs: 50, retryMaxMs: 2000, logger: {},
      fetch: async (input, init) => {
        const r = await fetch(input, init);
        statuses.push(r.status);
        return r as never;
      },
      handler: async (_task, ctx) => {
        // More reports than the key may send in one window, each awaited.
        for (let i = 1; i <= 8; i++) {
          ctx.progress(i, 8, `step ${i}`);
          await ctx.flush();
        }
        return { ok: true };
      },
    });
    cleanups.push(() => worker.close());
    // The admin's reads count against the same tiny per-credential limit: a read may be a 429 too.
    let done: any;
    await eventually(
      'the task completed',
      async () => {
        const r = await t.api('GET', `/v1/tasks/${created.body.id}`);
        if (r.status === 200 && r.body.status === 'completed') done = r.body;
        return done !== undefined;
      },
      undefined,
      50,
    );
    expect(done).toMatchObject({ status: 'completed', result: { ok: true }, attempt: 1, progress: { done: 8, total: 8 } });
    expect(statuses).toContain(429);
    expect(statuses).not.toContain(500);
  });
});

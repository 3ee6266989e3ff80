import { afterEach, describe, expect, it, vi } from 'vitest';
import { UnrecoverableError, WorkerError, createReporter, createWorker, isWorkerError, type Worker } from '../src/index.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { FakeServer, memoryLogger } from './support/fake-server.ts';

const URL_ = 'http://fake.test';
let workers: Worker[] = [];

function start(server: FakeServer, options: Partial<Parameters<typeof createWorker>[0]> = {}) {
  const { logger } = memoryLogger();
  const worker = createWorker({ url: URL_, apiKey: 'k', fetch: server.fetch, logger, claimWaitMs: 1000, throttleMs: 200, retryBaseMs: 1, retryMaxMs: 5, handler: async () => null, ...options });
  workers.push(worker);
  return worker;
}

afterEach(async () => {
  vi.useRealTimers();
  await Promise.all(workers.map((w) => w.close({ timeoutMs: 0 })));
  workers = [];
});

describe('createWorker (fake server)', () => {
  it('validates options when built', () => {
    const base = { url: URL_, apiKey: 'k', handler: async () => 1 };
    expect(() => createWorker({ ...base, leaseMs: -3 })).toThrow('`leaseMs` must be an integer from 1000 to 3600000, got -3');
    expect(() => createWorker({ ...base, url: 'nope' })).toThrow(/`url` must be an absolute/);
    expect(() => createWorker({ ...base, apiKey: '' })).toThrow(/apiKey/);
    expect(() => createWorker({ ...base, concurrency: 0 })).toThrow(/concurrency/);
    expect(() => createWorker({ ...base, types: [] })).toThrow(/types/);
    expect(() => createWorker({ ...base, handler: 3 as never })).toThrow(/handler/);
    try {
      createWorker({ ...base, throttleMs: 1.5 });
    } catch (e) {
      expect(isWorkerError(e, 'invalid_option')).toBe(true);
    }
  });

  it('10,000 progress calls in a tight loop become one report; the final value is exact', async () => {
    const server = new FakeServer();
    const task = server.add();
    start(server, {
      throttleMs: 1000,
      handler: async (_t, ctx) => {
        for (let i = 1; i <= 10_000; i++) ctx.progress(i, 10_000, `item ${i}`);
        return { ok: true };
      },
    });
    await eventually('completion', () => task.status === 'completed');
    expect(server.count(/progress$/)).toBe(1);
    expect(task.done).toBe(10_000);
    expect(task.message).toBe('item 10000');
    expect(task.result).toEqual({ ok: true });
    // progress lands before complete
    const paths = server.requests.map((r) => r.path).filter((p) => p !== '/v1/tasks/claim');
    expect(paths).toEqual(['/v1/progress', `/v1/tasks/${task.id}/complete`]);
  });

  it('flushes stage changes in order, with the previous stage final progress first', async () => {
    const server = new FakeServer();
    const task = server.add();
    start(server, {
      throttleMs: 60_000,
      handler: async (_t, ctx) => {
        ctx.stage('fetch');
        ctx.progress(3, 3);
        ctx.stage('parse');
        ctx.progress(1, 10);
        ctx.log('info', 'half way');
        ctx.progress(10, 10, 'done');
        ctx.setMetadata({ pages: 10 });
        ctx.stage('write');
        await ctx.flush();
        return 'r';
      },
    });
    await eventually('completion', () => task.status === 'completed');
    expect(task.applied).toEqual([
      { stage: 'fetch', done: 3, total: 3 },
      { stage: 'parse', done: 10, total: 10, log: { level: 'info', message: 'half way' }, message: 'done', metadata: { pages: 10 } },
      { stage: 'write' },
    ]);
  });

  it('batches reports of many tasks into one request', async () => {
    const server = new FakeServer();
    const tasks = Array.from({ length: 20 }, () => server.add());
    let started = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    start(server, {
      concurrency: 20,
      throttleMs: 60_000,
      handler: async (_t, ctx) => {
        started++;
        await gate;
        ctx.progress(1, 1);
        await ctx.flush();
      },
    });
    await eventually('all started', () => started === 20);
    release();
    await eventually('all completed', () => tasks.every((t) => t.status === 'completed'));
    expect(server.count('/v1/progress')).toBe(1);
    expect(server.requests.find((r) => r.path === '/v1/progress')!.body.updates).toHaveLength(20);
  });

  it('splits a batch by size so no request nears the body limit; every update lands', async () => {
    const server = new FakeServer();
    const tasks = Array.from({ length: 100 }, () => server.add());
    let started = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    start(server, {
      concurrency: 100,
      throttleMs: 60_000,
      handler: async (t, ctx) => {
        started++;
        await gate;
        ctx.setMetadata({ blob: 'x'.repeat(15_000), id: t.id });
        ctx.progress(1, 1);
        await ctx.flush();
      },
    });
    await eventually('all started', () => started === 100);
    release();
    await eventually('all completed', () => tasks.every((t) => t.status === 'completed'));
    const batches = server.requests.filter((r) => r.path === '/v1/progress');
    expect(batches.length).toBeGreaterThanOrEqual(3);
    for (const b of batches) expect(JSON.stringify(b.body).length).toBeLessThanOrEqual(512 * 1024);
    expect(tasks.every((t) => t.done === 1 && (t.metadata as { id: string }).id === t.id)).toBe(true);
  });

  it('cancelRequested in a report answer aborts ctx.signal; the task fails as canceled', async () => {
    const server = new FakeServer();
    const task = server.add();
    let reason: unknown;
    start(server, {
      throttleMs: 10,
      handler: async (_t, ctx) => {
        await new Promise<void>((resolve) => {
          ctx.signal.addEventListener('abort', () => resolve(), { once: true });
          let i = 0;
          const tick = () => {
            if (ctx.signal.aborted) return;
            ctx.progress(++i, 1000);
            setTimeout(tick, 5);
          };
          tick();
        });
        reason = ctx.signal.reason;
        throw ctx.signal.reason;
      },
    });
    await eventually('running', () => task.status === 'running');
    task.cancelRequested = true;
    await eventually('canceled', () => task.status === 'canceled');
    expect(isWorkerError(reason, 'canceled')).toBe(true);
    expect(task.error).toEqual({ code: 'canceled', message: 'Canceled' });
    expect(server.requests.filter((r) => r.path.endsWith('/fail')).map((r) => r.body.retry)).toEqual([false]);
  });

  it('409 lease_lost aborts the handler and never completes', async () => {
    const server = new FakeServer();
    const task = server.add();
    let reason: unknown;
    start(server, {
      throttleMs: 10,
      handler: async (_t, ctx) => {
        ctx.progress(1, 10);
        await ctx.flush();
        task.lease = 'someone-else';
        ctx.progress(2, 10);
        await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
        reason = ctx.signal.reason;
        return 'too late';
      },
    });
    await eventually('abort', () => reason !== undefined);
    expect(isWorkerError(reason, 'lease_lost')).toBe(true);
    await eventually('run ended', () => workers[0]!.runs.size === 0);
    expect(server.count(/\/(complete|fail)$/)).toBe(0);
    expect(task.status).toBe('running');
  });

  it('a thrown error fails with retry; an UnrecoverableError fails for good', async () => {
    const server = new FakeServer();
    const a = server.add('a');
    const b = server.add('b');
    start(server, {
      concurrency: 2,
      handler: async (t) => {
        if (t.type === 'a') throw Object.assign(new Error('boom'), { code: 'ECONNRESET' });
        throw new UnrecoverableError('bad input', { taskCode: 'bad_input' });
      },
    });
    await eventually('two fails', () => server.count(/\/fail$/) >= 2);
    const fails = server.requests.filter((r) => r.path.endsWith('/fail'));
    const ofA = fails.find((r) => r.path.includes(a.id))!.body;
    const ofB = fails.find((r) => r.path.includes(b.id))!.body;
    expect(ofA).toMatchObject({ retry: true, error: { code: 'ECONNRESET', message: 'boom' } });
    expect(ofB).toMatchObject({ retry: false, error: { code: 'bad_input', message: 'bad input' } });
  });

  it('retries 503, 429 (Retry-After) and network errors; 400 is final', async () => {
    const server = new FakeServer();
    const task = server.add();
    let completes = 0;
    server.intercept = (req) => {
      if (!req.path.endsWith('/complete')) return undefined;
      completes++;
      if (completes === 1) return { status: 503 };
      if (completes === 2) return 'network';
      if (completes === 3) return { status: 429, headers: { 'retry-after': '0' } };
      return undefined;
    };
    start(server, { handler: async () => 42 });
    await eventually('completion', () => task.status === 'completed');
    expect(completes).toBe(4);
    expect(workers[0]!.stats().retries).toBeGreaterThanOrEqual(3);
  });

  it('a result the server refuses (400/413) fails the task as invalid_result', async () => {
    const server = new FakeServer();
    const task = server.add();
    server.intercept = (req) => (req.path.endsWith('/complete') ? { status: 413, body: { error: { code: 'payload_too_large', message: 'too big' } } } : undefined);
    start(server, { handler: async () => 'x' });
    await eventually('failed', () => task.status === 'failed');
    expect(task.error).toMatchObject({ code: 'invalid_result' });
  });

  it('respects concurrency', async () => {
    const server = new FakeServer();
    const tasks = Array.from({ length: 6 }, () => server.add());
    let running = 0;
    let peak = 0;
    start(server, {
      concurrency: 2,
      handler: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
      },
    });
    await eventually('all done', () => tasks.every((t) => t.status === 'completed'));
    expect(peak).toBe(2);
  });

  it('close(): stops claiming, lets handlers finish, one promise for many calls', async () => {
    const server = new FakeServer();
    const task = server.add();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let started = false;
    const worker = start(server, { handler: async () => { started = true; await gate; return 'fine'; } });
    await eventually('handler started', () => started);
    const states: string[] = [];
    worker.subscribe((c) => states.push(`${c.previous}>${c.current}:${c.reason}`));
    const p1 = worker.close();
    const p2 = worker.close();
    expect(p1).toBe(p2);
    server.add(); // not claimed any more
    release();
    await p1;
    expect(task.status).toBe('completed');
    expect(states).toEqual(['running>closing:close_called', 'closing>closed:closed']);
    expect([...server.tasks.values()].filter((t) => t.status === 'queued')).toHaveLength(1);
  });

  it('close(): past the deadline, aborts handlers with shutdown and hands the task back', async () => {
    const server = new FakeServer();
    const task = server.add();
    let reason: unknown;
    let started = false;
    const worker = start(server, {
      handler: (_t, ctx) => new Promise(() => {
        started = true;
        ctx.signal.addEventListener('abort', () => (reason = ctx.signal.reason));
      }), // never settles
    });
    await eventually('handler started', () => started);
    await worker.close({ timeoutMs: 20 });
    expect(isWorkerError(reason, 'shutdown')).toBe(true);
    expect(task.status).toBe('queued');
    expect(task.error).toMatchObject({ code: 'shutdown' });
  });

  it('close(): a task claimed while closing goes straight back to the queue', async () => {
    const server = new FakeServer();
    let worker!: Worker;
    let calls = 0;
    server.intercept = (req) => {
      // The claim answer arrives after close() was called.
      if (req.path === '/v1/tasks/claim' && ++calls === 1) void worker.close();
      return undefined;
    };
    const task = server.add();
    let ran = false;
    worker = start(server, { autorun: false, handler: async () => void (ran = true) });
    worker.run();
    await eventually('closed', () => worker.state === 'closed');
    expect(ran).toBe(false);
    expect(task).toMatchObject({ status: 'queued', error: { code: 'shutdown' } });
  });

  it('heartbeats at about a third of leaseMs when no report renewed the lease', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const server = new FakeServer();
    const task = server.add();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    start(server, { leaseMs: 3000, handler: async () => gate });
    await vi.advanceTimersByTimeAsync(10);
    expect(task.status).toBe('running');
    expect(server.count(/heartbeat$/)).toBe(0);
    await vi.advanceTimersByTimeAsync(1000);
    expect(server.count(/heartbeat$/)).toBe(1);
    await vi.advanceTimersByTimeAsync(5000);
    expect(server.count(/heartbeat$/)).toBe(6);
    release();
    await vi.advanceTimersByTimeAsync(10);
    expect(task.status).toBe('completed');
  });

  it('a lease that cannot be renewed in time ends the attempt locally (lease_expired)', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const server = new FakeServer();
    const task = server.add();
    let reason: unknown;
    server.intercept = (req) => (req.path.endsWith('/heartbeat') ? 'network' : undefined);
    start(server, { leaseMs: 3000, retryBaseMs: 100, retryMaxMs: 200, handler: (_t, ctx) => new Promise((_r, reject) => ctx.signal.addEventListener('abort', () => reject((reason = ctx.signal.reason)))) });
    await vi.advanceTimersByTimeAsync(3100);
    expect(isWorkerError(reason, 'lease_expired')).toBe(true);
    await vi.advanceTimersByTimeAsync(100);
    expect(server.count(/\/(complete|fail)$/)).toBe(0);
    expect(task.status).toBe('running'); // the server's reaper takes it from here
  });
});

describe('createReporter (fake server)', () => {
  it('start → ctx → complete, with the same coalescing', async () => {
    const server = new FakeServer();
    const reporter = createReporter({ url: URL_, apiKey: 'k', fetch: server.fetch, throttleMs: 60_000, logger: memoryLogger().logger });
    const ctx = await reporter.start({ type: 'export', owner: 'u1' });
    for (let i = 0; i <= 500; i++) ctx.progress(i, 500);
    await ctx.complete({ rows: 500 });
    const task = server.tasks.get(ctx.id)!;
    expect(server.requests[0]!.body).toMatchObject({ type: 'export', owner: 'u1', start: true });
    expect(task).toMatchObject({ status: 'completed', done: 500, result: { rows: 500 } });
    expect(server.count('/v1/progress')).toBe(1);
    await reporter.close();
    await expect(reporter.start({ type: 'x', owner: 'u' })).rejects.toMatchObject({ code: 'closed' });
  });

  it('run() completes with the return value and fails (retry) with a thrown error', async () => {
    const server = new FakeServer();
    const reporter = createReporter({ url: URL_, apiKey: 'k', fetch: server.fetch, logger: memoryLogger().logger });
    expect(await reporter.run({ type: 'a', owner: 'u' }, async (ctx) => (ctx.stage('one'), 7))).toBe(7);
    await expect(reporter.run({ type: 'b', owner: 'u' }, async () => { throw new WorkerError('aborted', 'x'); })).rejects.toThrow('x');
    const [a, b] = [...server.tasks.values()];
    expect(a).toMatchObject({ status: 'completed', result: 7, stage: 'one' });
    expect(b).toMatchObject({ status: 'queued', error: { code: 'aborted' } });
    await reporter.close();
  });

  it('child() creates a task under the parent with the parent owner', async () => {
    const server = new FakeServer();
    const reporter = createReporter({ url: URL_, apiKey: 'k', fetch: server.fetch, logger: memoryLogger().logger });
    const ctx = await reporter.start({ type: 'batch', owner: 'u9' });
    const child = await ctx.child({ type: 'item', input: { n: 1 } });
    expect(server.tasks.get(child.id)).toMatchObject({ parentId: ctx.id, owner: 'u9', type: 'item' });
    const create = server.requests.filter((r) => r.path === '/v1/tasks').at(-1)!;
    expect(create.body).toMatchObject({ parentId: ctx.id, owner: 'u9', input: { n: 1 } });
    await ctx.complete();
    await reporter.close();
  });
});

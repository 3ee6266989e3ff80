/**
 * The worker SDK against the real server (SQLite, port 0). These are the "must hold"s.
 */
import { childrenPercent, type Task, type TaskEvent } from '@taskpulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReporter, createWorker, isWorkerError, type FetchLike, type Worker } from '../src/index.ts';
import { BATCH_ITEM_TYPE, BATCH_TYPE, batchHandler, batchItemHandler } from '../../../examples/workers/batch.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { memoryLogger } from './support/fake-server.ts';
import { countingFetch, startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
const workers: Worker[] = [];
let n = 0;
const uniqueType = (name: string) => `${name}-${Date.now().toString(36)}-${++n}`;
const quiet = () => memoryLogger().logger;

beforeAll(async () => {
  server = await startTestServer({ reaperIntervalMs: 100 });
});

afterAll(async () => {
  await Promise.allSettled(workers.map((w) => w.close({ timeoutMs: 0 })));
  await server?.close();
});

function worker(options: Omit<Parameters<typeof createWorker>[0], 'url' | 'apiKey'>) {
  const w = createWorker({ url: server.url, apiKey: server.workerKey, logger: quiet(), claimWaitMs: 500, ...options });
  workers.push(w);
  return w;
}

const getTask = async (id: string) => (await server.api<Task>('GET', `/v1/tasks/${id}`)).body;

describe('worker SDK against the real server', () => {
  it('claims, reports stages and progress, completes with the result', async () => {
    const type = uniqueType('smoke');
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger: quiet() });
    const created = await reporter.create({ type, owner: 'u1', input: { n: 3 }, stages: [{ key: 'a' }, { key: 'b', weight: 3 }] });
    const w = worker({
      types: [type],
      throttleMs: 50,
      handler: async (task, ctx) => {
        ctx.stage('a');
        ctx.progress(1, 1);
        ctx.stage('b');
        for (let i = 1; i <= 30; i++) ctx.progress(i, 30, `step ${i}`);
        ctx.log('info', 'almost');
        ctx.setMetadata({ k: 1 });
        return { doubled: (task.input as { n: number }).n * 2 };
      },
    });
    await eventually('completion', async () => (await getTask(created.id)).status === 'completed');
    const task = await getTask(created.id);
    expect(task).toMatchObject({ status: 'completed', result: { doubled: 6 }, message: 'step 30', metadata: { k: 1 }, progress: { done: 30, total: 30, percent: 100 } });
    expect(task.stages.map((s) => [s.key, s.status])).toEqual([['a', 'completed'], ['b', 'completed']]);
    const logs = await server.api<any>('GET', `/v1/tasks/${created.id}/logs`);
    expect(JSON.stringify(logs.body)).toContain('almost');
    await w.close();
    await reporter.close();
  });

  it('a worker killed mid-task: the lease expires, another worker finishes it, late reports get 409 lease_lost', async () => {
    const type = uniqueType('kill');
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger: quiet() });
    const created = await reporter.create({ type, owner: 'u1', maxAttempts: 3 });

    let firstReported = false;
    const first = worker({
      types: [type],
      leaseMs: 1000,
      handler: async (_task, ctx) => {
        ctx.progress(3, 10, 'first attempt');
        await ctx.flush();
        firstReported = true;
        await new Promise((_resolve, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason), { once: true }));
      },
    });
    await eventually('first attempt reported', () => firstReported);
    const zombie = first.runs.get(created.id)!;
    const zombieLease = zombie.leaseToken;
    zombie.abandon(); // as if the process froze: no more heartbeats, reports or final state
    await first.close();

    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let secondAttempt = 0;
    const second = worker({
      types: [type],
      leaseMs: 5000,
      handler: async (task, ctx) => {
        secondAttempt = task.attempt;
        ctx.progress(5, 10, 'second attempt');
        await ctx.flush();
        await gate;
        return { by: 'second', attempt: task.attempt };
      },
    });
    await eventually('second attempt started', () => secondAttempt > 0);
    expect(secondAttempt).toBe(2);

    // The first attempt's late reports are refused and change nothing.
    const late = await server.api('POST', `/v1/tasks/${created.id}/progress`, { lease: zombieLease, done: 9, total: 10, message: 'zombie' }, server.workerKey);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('lease_lost');
    const lateBatch = await server.api('POST', '/v1/progress', { updates: [{ id: created.id, lease: zombieLease, done: 9 }] }, server.workerKey);
    expect(lateBatch.body.results[0]).toMatchObject({ ok: false, error: { code: 'lease_lost' } });
    const lateComplete = await server.api('POST', `/v1/tasks/${created.id}/complete`, { lease: zombieLease, result: 'zombie' }, server.workerKey);
    expect(lateComplete.status).toBe(409);
    expect(lateComplete.body.error.code).toBe('lease_lost');
    expect((await getTask(created.id)).message).toBe('second attempt');

    release();
    await eventually('completion', async () => (await getTask(created.id)).status === 'completed');
    const task = await getTask(created.id);
    expect(task).toMatchObject({ attempt: 2, result: { by: 'second', attempt: 2 } });
    const afterEnd = await server.api('POST', `/v1/tasks/${created.id}/progress`, { lease: zombieLease, done: 10 }, server.workerKey);
    expect(afterEnd.status).toBe(409);
    await second.close();
    await reporter.close();
  });

  it('a cancel from a viewer reaches ctx.signal on the next report; the task ends canceled', async () => {
    const type = uniqueType('cancel');
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger: quiet() });
    const created = await reporter.create({ type, owner: 'viewer_1' });
    let reports = 0;
    let reason: unknown;
    const w = worker({
      types: [type],
      throttleMs: 50,
      handler: async (_task, ctx) => {
        while (!ctx.signal.aborted) {
          ctx.progress(++reports, 1_000_000);
          await new Promise((r) => setTimeout(r, 10));
        }
        reason = ctx.signal.reason;
        throw reason;
      },
    });
    await eventually('first report', async () => (await getTask(created.id)).progress.done !== null);
    const minted = await server.api<{ token: string }>('POST', '/v1/tokens', { owner: 'viewer_1' }, server.workerKey);
    expect(minted.status).toBe(201);
    const canceled = await server.api<Task>('POST', `/v1/tasks/${created.id}/cancel`, undefined, minted.body.token);
    expect(canceled.status).toBe(200);
    expect(canceled.body.cancelRequested).toBe(true);
    await eventually('abort reached the handler', () => reason !== undefined);
    expect(isWorkerError(reason, 'canceled')).toBe(true);
    await eventually('canceled', async () => (await getTask(created.id)).status === 'canceled');
    expect((await getTask(created.id)).error).toMatchObject({ code: 'canceled' });
    await w.close();
    await reporter.close();
  });

  it('10,000 ctx.progress calls cost at most one request per throttleMs, and the final value is exact', async () => {
    const type = uniqueType('flood');
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger: quiet() });
    const created = await reporter.create({ type, owner: 'u1' });
    const counter = countingFetch();
    const throttleMs = 100;
    const window = { start: 0, end: 0, requestsBefore: 0, requestsAfter: 0 };
    let burstRequests = -1;
    const progressRequests = () => counter.count(/ \/v1\/(progress|tasks\/[^/]+\/progress)$/);
    const w = worker({
      types: [type],
      throttleMs,
      fetch: counter.fetch,
      handler: async (_task, ctx) => {
        // A tight loop: one report in all.
        for (let i = 1; i <= 10_000; i++) ctx.progress(i, 20_000, `item ${i}`);
        await ctx.flush();
        burstRequests = progressRequests();
        // The same over time, yielding to the event loop every 100 calls.
        window.start = Date.now();
        window.requestsBefore = progressRequests();
        for (let i = 10_001; i <= 20_000; i++) {
          ctx.progress(i, 20_000, `item ${i}`);
          if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
        }
        window.end = Date.now();
        window.requestsAfter = progressRequests();
        return 'ok';
      },
    });
    await eventually('completion', async () => (await getTask(created.id)).status === 'completed');
    expect(burstRequests).toBe(1); // 10,000 synchronous calls: one report
    const sent = window.requestsAfter - window.requestsBefore;
    // One send may start the window at once; after that, at most one per throttleMs.
    expect(sent).toBeLessThanOrEqual(Math.floor((window.end - window.start) / throttleMs) + 1);
    // And the final flush before complete: one more at most.
    expect(progressRequests() - window.requestsAfter).toBeLessThanOrEqual(1);
    const task = await getTask(created.id);
    expect(task.progress).toMatchObject({ done: 20_000, total: 20_000, percent: 100 });
    expect(task.message).toBe('item 20000');
    expect(w.stats().reportCalls).toBe(20_000);
    await w.close();
    await reporter.close();
  });

  it("a batch of 100 children: the parent's children counts and percent are right at every event a reader sees", async () => {
    const owner = `batch_owner_${n}`;
    const head = (await server.api<{ head: number }>('GET', '/v1/events?after=0&limit=1')).body.head;
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger: quiet() });
    const parentHandler = batchHandler({ url: server.url, apiKey: server.workerKey, pollMs: 50 });
    const w = worker({
      types: [BATCH_TYPE, BATCH_ITEM_TYPE],
      concurrency: 24,
      throttleMs: 50,
      handler: (task, ctx) => (task.type === BATCH_TYPE ? parentHandler(task, ctx) : batchItemHandler(task, ctx)),
    });
    const parent = await reporter.create({ type: BATCH_TYPE, owner, input: { items: 100, failEvery: 10, speed: 0.05 } });

    // Read the log like a client would, checking every parent event against the children's own events so far.
    const childStatus = new Map<string, Task['status']>();
    let cursor = head;
    let parentEvents = 0;
    let final: Task | undefined;
    while (!final) {
      const page = await server.api<{ events: TaskEvent[]; head: number }>('GET', `/v1/events?after=${cursor}&limit=1000&waitMs=2000`);
      expect(page.status).toBe(200);
      for (const event of page.body.events) {
        expect(event.seq).toBeGreaterThan(cursor);
        cursor = event.seq;
        const task = event.task;
        if (!task) continue;
        if (task.parentId === parent.id) childStatus.set(task.id, task.status);
        if (task.id !== parent.id) continue;
        parentEvents++;
        const expected = { total: childStatus.size, queued: 0, running: 0, completed: 0, failed: 0, canceled: 0 };
        for (const status of childStatus.values()) expected[status]++;
        expect(task.children, `children at seq ${event.seq}`).toEqual(expected);
        const c = task.children;
        expect(c.queued + c.running + c.completed + c.failed + c.canceled).toBe(c.total);
        expect(task.progress.percent, `percent at seq ${event.seq}`).toBe(childrenPercent(c));
        if (task.status === 'completed' || task.status === 'failed') final = task;
      }
    }
    expect(final.status).toBe('completed');
    expect(final.children).toEqual({ total: 100, queued: 0, running: 0, completed: 90, failed: 10, canceled: 0 });
    expect(final.result).toEqual({ items: 100, completed: 90, failed: 10, canceled: 0 });
    expect(parentEvents).toBeGreaterThan(200); // every child transition showed on the parent
    const listed = await server.api<{ tasks: Task[] }>('GET', `/v1/tasks?parentId=${parent.id}&limit=500`);
    expect(listed.body.tasks).toHaveLength(100);
    await w.close();
    await reporter.close();
  }, 90_000); // 100 real children through a real worker and server: ~10 s idle, 30 s and more on a loaded 2-core CI machine

  it('heartbeats keep a silent task past leaseMs; transient 503s on reports are retried and nothing is lost', async () => {
    const type = uniqueType('silent');
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger: quiet() });
    const created = await reporter.create({ type, owner: 'u1' });
    let failuresLeft = 3;
    const flaky: FetchLike = (input, init) => {
      if (new URL(input).pathname === '/v1/progress' && failuresLeft > 0) {
        failuresLeft--;
        return Promise.resolve({ status: 503, headers: { get: () => null }, text: async () => '{"error":{"code":"unavailable","message":"try later"}}' });
      }
      return (globalThis.fetch as unknown as FetchLike)(input, init);
    };
    let heartbeatsBefore = 0;
    const counter = countingFetch(flaky);
    const w = worker({
      types: [type],
      leaseMs: 1000,
      throttleMs: 50,
      retryBaseMs: 10,
      retryMaxMs: 50,
      fetch: counter.fetch,
      handler: async (_task, ctx) => {
        ctx.progress(1, 3, 'one');
        await ctx.flush();
        // Silent for more than two leases: only heartbeats keep the task ours.
        const until2 = Date.now() + 2500;
        while (Date.now() < until2) await new Promise((r) => setTimeout(r, 100));
        heartbeatsBefore = counter.count(/heartbeat$/);
        ctx.progress(3, 3, 'three');
        return 'done';
      },
    });
    await eventually('completion', async () => (await getTask(created.id)).status === 'completed', 20_000);
    const task = await getTask(created.id);
    expect(task).toMatchObject({ attempt: 1, result: 'done', message: 'three', progress: { done: 3, total: 3 } });
    expect(heartbeatsBefore).toBeGreaterThanOrEqual(2);
    expect(failuresLeft).toBe(0);
    expect(w.stats().retries).toBeGreaterThanOrEqual(3);
    await w.close();
    await reporter.close();
  });

  it('createReporter: a task another queue runs, created running, reported and completed', async () => {
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, throttleMs: 50, logger: quiet() });
    const result = await reporter.run({ type: uniqueType('external'), owner: 'u2', stages: [{ key: 'query' }, { key: 'write', weight: 2 }] }, async (ctx) => {
      expect(ctx.task.status).toBe('running');
      ctx.stage('query');
      ctx.progress(10, 10);
      ctx.stage('write');
      for (let i = 0; i <= 100; i++) ctx.progress(i, 100);
      const child = await ctx.child({ type: 'external-part', input: { part: 1 } });
      expect(child).toMatchObject({ parentId: ctx.id, owner: 'u2', status: 'queued' });
      return { rows: 100, id: ctx.id };
    });
    const task = await getTask(result.id);
    expect(task).toMatchObject({ status: 'completed', result: { rows: 100 }, progress: { percent: 100 } });
    await reporter.close();
  });
});

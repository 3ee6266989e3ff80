/**
 * The BullMQ bridge against real Redis (127.0.0.1:6379) and the in-memory TaskPulse stand-in.
 * Each run uses its own queue prefix and deletes it afterwards.
 */
import { type Processor, Queue, QueueEvents, Worker as BullWorker, UnrecoverableError as BullUnrecoverableError } from 'bullmq';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReporter, isWorkerError } from '../src/index.ts';
import { taskContext, withTaskPulse, type WithTaskPulseOptions } from '../src/bullmq.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { FakeServer, memoryLogger } from './support/fake-server.ts';
import { deletePrefix, redisConnection, requireRedis } from './support/redis.ts';
import { startTestServer } from './support/server.ts';
import type { Task } from '@taskpulse/protocol';

const prefix = `tp-test-${randomUUID().slice(0, 8)}`;
const closers: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  await requireRedis();
});

afterAll(async () => {
  for (const close of closers.reverse()) await close().catch(() => {});
  await deletePrefix(prefix);
});

function setup(name: string, processor: Processor<any>, extra: Partial<WithTaskPulseOptions<any>> = {}) {
  const server = new FakeServer();
  const reporter = createReporter({ url: 'http://fake.test', apiKey: 'k', fetch: server.fetch, throttleMs: 50, logger: memoryLogger().logger });
  const connection = redisConnection();
  const queue = new Queue(name, { connection, prefix });
  const events = new QueueEvents(name, { connection, prefix });
  const worker = new BullWorker(name, withTaskPulse(processor, { reporter, owner: (job) => job.data.userId, ...extra }), { connection, prefix, concurrency: 4 });
  closers.push(() => queue.close(), () => events.close(), () => worker.close(), () => reporter.close());
  return { server, reporter, queue, events, worker };
}

describe('withTaskPulse (BullMQ, real Redis)', () => {
  it('a job becomes a task with live progress, stages, log and result', async () => {
    const { server, queue, events } = setup(
      'import',
      async (job) => {
        await job.updateProgress({ stage: 'download', done: 1, total: 1 });
        await job.updateProgress({ stage: 'parse', done: 0, total: job.data.pages });
        for (let p = 1; p <= job.data.pages; p++) await job.updateProgress({ done: p, message: `Page ${p}/${job.data.pages}` });
        await job.log('parsed every page');
        await job.updateProgress(100);
        expect(taskContext(job)?.task.owner).toBe('user_7');
        return { pages: job.data.pages };
      },
      { type: 'pdf-import', stages: [{ key: 'download' }, { key: 'parse', weight: 4 }] },
    );
    await events.waitUntilReady();
    const job = await queue.add('doc', { userId: 'user_7', pages: 30 });
    expect(await job.waitUntilFinished(events, 20_000)).toEqual({ pages: 30 });
    const [task] = [...server.tasks.values()];
    expect(task).toMatchObject({ type: 'pdf-import', owner: 'user_7', status: 'completed', result: { pages: 30 }, stage: 'parse', done: 100, total: 100 });
    expect(task!.logs).toEqual(['info:parsed every page']);
    const create = server.requests.find((r) => r.path === '/v1/tasks')!.body;
    expect(create).toMatchObject({ start: true, stages: [{ key: 'download' }, { key: 'parse', weight: 4 }], tags: [`bullmq:import:${job.id}`] });
    expect(create.input).toBeUndefined(); // job data stays private unless `input` says otherwise
    // BullMQ still sees the progress.
    expect((await queue.getJob(job.id!))!.progress).toBe(100);
  });

  it('a failure fails the task and says whether BullMQ retries; each attempt is its own task', async () => {
    let calls = 0;
    const { server, queue, events } = setup('flaky', async () => {
      calls++;
      throw Object.assign(new Error(`boom ${calls}`), { code: 'upstream_down' });
    });
    await events.waitUntilReady();
    const job = await queue.add('x', { userId: 'u1' }, { attempts: 2 });
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow('boom 2');
    await eventually('two failed tasks', () => [...server.tasks.values()].filter((t) => t.status === 'failed').length === 2);
    const errors = [...server.tasks.values()].map((t) => t.error);
    expect(errors).toEqual([
      { code: 'upstream_down', message: 'boom 1', details: { willRetry: true, attempt: 1, attempts: 2 } },
      { code: 'upstream_down', message: 'boom 2', details: { willRetry: false, attempt: 2, attempts: 2 } },
    ]);
  });

  it("BullMQ's UnrecoverableError is final on both sides", async () => {
    const { server, queue, events } = setup('bad', async () => {
      throw new BullUnrecoverableError('bad input');
    });
    await events.waitUntilReady();
    const job = await queue.add('x', { userId: 'u1' }, { attempts: 3 });
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow('bad input');
    const tasks = [...server.tasks.values()];
    expect(tasks).toHaveLength(1);
    expect(tasks[0]!.error).toMatchObject({ message: 'bad input', details: { willRetry: false } });
  });

  it('a cancel from TaskPulse aborts the processor signal and ends the job without retry', async () => {
    let seen: unknown;
    const { server, queue, events } = setup('cancel', async (job, _token, signal) => {
      let i = 0;
      while (!signal!.aborted) {
        await job.updateProgress({ done: ++i, total: 1_000_000 });
        await new Promise((r) => setTimeout(r, 5));
      }
      seen = signal!.reason;
      throw signal!.reason;
    });
    await events.waitUntilReady();
    const job = await queue.add('x', { userId: 'u1' }, { attempts: 3 });
    await eventually('progress', () => [...server.tasks.values()].some((t) => (t.done ?? 0) > 0));
    const task = [...server.tasks.values()][0]!;
    task.cancelRequested = true;
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/cancel/);
    expect(isWorkerError(seen, 'canceled')).toBe(true);
    expect(task).toMatchObject({ status: 'canceled', error: { code: 'canceled' } });
    expect(server.tasks.size).toBe(1); // not retried
    const failed = await queue.getJob(job.id!);
    expect(failed!.attemptsMade).toBe(1);
  });
});

describe('withTaskPulse (BullMQ, real Redis, real TaskPulse server)', () => {
  it('the end user sees the job as a task: stages, progress, result; a viewer cancel stops the next job', async () => {
    const server = await startTestServer();
    closers.push(() => server.close());
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, throttleMs: 50, logger: memoryLogger().logger });
    const connection = redisConnection();
    const queue = new Queue('e2e', { connection, prefix });
    const events = new QueueEvents('e2e', { connection, prefix });
    const processor: Processor<any> = async (job, _token, signal) => {
      await job.updateProgress({ stage: 'fetch', done: 1, total: 1 });
      await job.updateProgress({ stage: 'work', done: 0, total: job.data.steps });
      for (let i = 1; i <= job.data.steps; i++) {
        if (signal?.aborted) throw signal.reason;
        await job.updateProgress({ done: i, message: `step ${i}` });
        if (job.data.slow) await new Promise((r) => setTimeout(r, 20));
      }
      return { steps: job.data.steps };
    };
    const worker = new BullWorker('e2e', withTaskPulse(processor, { reporter, owner: (job) => job.data.userId, type: 'bull-e2e', stages: [{ key: 'fetch' }, { key: 'work', weight: 3 }] }), { connection, prefix });
    closers.push(() => queue.close(), () => events.close(), () => worker.close(), () => reporter.close());
    await events.waitUntilReady();

    const job = await queue.add('a', { userId: 'bull_user', steps: 50 });
    expect(await job.waitUntilFinished(events, 20_000)).toEqual({ steps: 50 });
    const [task] = (await server.api<{ tasks: Task[] }>('GET', '/v1/tasks?owner=bull_user&limit=10')).body.tasks;
    expect(task).toMatchObject({ type: 'bull-e2e', status: 'completed', result: { steps: 50 }, message: 'step 50', progress: { done: 50, total: 50, percent: 100 }, tags: [`bullmq:e2e:${job.id}`] });
    expect(task!.stages.map((st) => st.status)).toEqual(['completed', 'completed']);

    const slow = await queue.add('b', { userId: 'bull_user', steps: 100_000, slow: true }, { attempts: 3 });
    let running: Task | undefined;
    await eventually('the slow job reporting', async () => {
      running = (await server.api<{ tasks: Task[] }>('GET', '/v1/tasks?owner=bull_user&status=running&limit=10')).body.tasks[0];
      return (running?.progress.done ?? 0) > 0;
    });
    const token = (await server.api<{ token: string }>('POST', '/v1/tokens', { owner: 'bull_user' }, server.workerKey)).body.token;
    expect((await server.api('POST', `/v1/tasks/${running!.id}/cancel`, undefined, token)).status).toBe(200);
    await expect(slow.waitUntilFinished(events, 20_000)).rejects.toThrow(/cancel/);
    await eventually('canceled', async () => (await server.api<Task>('GET', `/v1/tasks/${running!.id}`)).body.status === 'canceled');
    expect((await queue.getJob(slow.id!))!.attemptsMade).toBe(1); // BullMQ did not retry it
  });
});

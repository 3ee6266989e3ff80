/** The examples and `startDemo` against the real server. */
import type { Task } from '@taskpulse/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemo, DEMO_TYPES } from '../../../examples/workers/demo.ts';
import { createReporter, createWorker } from '../src/index.ts';
import { aiSearchHandler, aiSearchTask } from '../../../examples/workers/ai-search.ts';
import { pdfImportHandler, pdfImportTask } from '../../../examples/workers/pdf-import.ts';
import { eventually } from '../../../test-support/eventually.ts';
import { memoryLogger } from './support/fake-server.ts';
import { startTestServer, type TestServer } from './support/server.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  await server?.close();
});

const list = async (query: string) => (await server.api<{ tasks: Task[] }>('GET', `/v1/tasks?${query}&limit=500`)).body.tasks;

describe('examples', () => {
  it('ai-search and pdf-import run to completion with every stage and a result', async () => {
    const logger = memoryLogger().logger;
    const reporter = createReporter({ url: server.url, apiKey: server.workerKey, logger });
    const search = await reporter.create({ ...aiSearchTask('ex_user'), input: { query: 'q', sources: 3, speed: 0.02 } });
    const pdf = await reporter.create({ ...pdfImportTask('ex_user'), input: { file: 'a.pdf', pages: 5, speed: 0.02 } });
    const handlers: Record<string, typeof aiSearchHandler> = { 'ai-search': aiSearchHandler, 'pdf-import': pdfImportHandler };
    const worker = createWorker({ url: server.url, apiKey: server.workerKey, logger, types: ['ai-search', 'pdf-import'], concurrency: 2, throttleMs: 50, claimWaitMs: 500, handler: (t, ctx) => handlers[t.type]!(t, ctx) });
    await eventually('both completed', async () => (await list('owner=ex_user&status=completed')).length === 2);
    const [s, p] = await Promise.all([search.id, pdf.id].map(async (id) => (await server.api<Task>('GET', `/v1/tasks/${id}`)).body));
    expect(s!.stages.map((x) => x.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    expect(s!.result).toMatchObject({ sources: 3 });
    expect(p!.result).toMatchObject({ file: 'a.pdf', pages: 5 });
    expect(p!.progress.percent).toBe(100);
    await worker.close();
    await reporter.close();
  });

  it('startDemo creates tasks of every type, runs them, and close() leaves nothing running', async () => {
    const ml = memoryLogger();
    const demo = await startDemo({ url: server.url, apiKey: server.workerKey, owner: 'demo_viewer', intervalMs: 60_000, logger: ml.logger });
    const seen = new Set<string>();
    await eventually('every demo type running', async () => {
      for (const t of await list('owner=demo_viewer')) if (t.status !== 'queued') seen.add(t.type);
      return DEMO_TYPES.every((type) => seen.has(type));
    }, 30_000);
    const p1 = demo.close();
    expect(demo.close()).toBe(p1);
    await p1;
    expect(ml.lines.filter((l) => l.startsWith('error'))).toEqual([]);
    expect((await list('owner=demo_viewer&status=running')).map((t) => t.type)).toEqual([]);
  });

  it('startDemo does nothing when its signal is already aborted, and stops when it aborts later', async () => {
    const aborted = new AbortController();
    aborted.abort();
    const idle = await startDemo({ url: server.url, apiKey: server.workerKey, owner: 'demo_aborted', signal: aborted.signal, logger: memoryLogger().logger });
    await idle.close();
    expect(await list('owner=demo_aborted')).toEqual([]);

    const controller = new AbortController();
    const demo = await startDemo({ url: server.url, apiKey: server.workerKey, owner: 'demo_later', signal: controller.signal, logger: memoryLogger().logger });
    await eventually('a demo task running', async () => (await list('owner=demo_later&status=running')).length > 0);
    controller.abort();
    await demo.close(); // the same close the abort started
    expect(await list('owner=demo_later&status=running')).toEqual([]);
  });
});

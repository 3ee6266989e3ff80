/**
 * `startDemo`: one worker for the three example types plus a reporter that creates a few demo
 * tasks now and then. `taskpulse demo` wires it in.
 *
 * @example
 * ```ts
 * const demo = await startDemo({ url: 'http://127.0.0.1:8080', apiKey: 'tpk_…' });
 * process.once('SIGINT', () => void demo.close());
 * ```
 */
import { createReporter, createWorker, type Handler, type Logger } from '@taskpulse/worker';
import { AI_SEARCH_TYPE, aiSearchHandler, aiSearchTask } from './ai-search.ts';
import { BATCH_ITEM_TYPE, BATCH_TYPE, batchHandler, batchItemHandler, batchTask } from './batch.ts';
import { PDF_IMPORT_TYPE, pdfImportHandler, pdfImportTask } from './pdf-import.ts';

/** Options of {@link startDemo}. */
export interface DemoOptions {
  /** TaskPulse server base URL. Required. */
  url: string;
  /** A worker or admin API key. Required. */
  apiKey: string;
  /** Owner of the demo tasks (the viewer to log in as). @defaultValue `'demo-user'` */
  owner?: string;
  /** Stops the demo when aborted (same as `close()`). */
  signal?: AbortSignal;
  /** Milliseconds between two new demo tasks. @defaultValue `4000` */
  intervalMs?: number;
  /** Handlers at once. @defaultValue `16` */
  concurrency?: number;
  /** Where the worker's warnings go. */
  logger?: Logger;
}

/** A running demo. */
export interface Demo {
  /** Stops creating tasks, lets running ones finish for a few seconds, then stops. Idempotent. */
  close(): Promise<void>;
}

export const DEMO_TYPES = [AI_SEARCH_TYPE, PDF_IMPORT_TYPE, BATCH_TYPE, BATCH_ITEM_TYPE];

export async function startDemo({ url, apiKey, owner = 'demo-user', signal, intervalMs = 4000, concurrency = 16, logger }: DemoOptions): Promise<Demo> {
  if (signal?.aborted) return { close: async () => {} };
  const handlers: Record<string, Handler> = {
    [AI_SEARCH_TYPE]: aiSearchHandler,
    [PDF_IMPORT_TYPE]: pdfImportHandler,
    [BATCH_TYPE]: batchHandler({ url, apiKey }),
    [BATCH_ITEM_TYPE]: batchItemHandler,
  };
  const worker = createWorker({
    url,
    apiKey,
    types: DEMO_TYPES,
    concurrency,
    ...(logger ? { logger } : {}),
    handler: (task, ctx) => {
      const handler = handlers[task.type];
      if (!handler) throw new Error(`no demo handler for ${task.type}`);
      return handler(task, ctx);
    },
  });
  const reporter = createReporter({ url, apiKey, ...(logger ? { logger } : {}) });
  const makers = [() => aiSearchTask(owner), () => pdfImportTask(owner), () => batchTask(owner, 12, 7)];
  let n = 0;
  const createOne = () =>
    reporter.create(makers[n++ % makers.length]!()).catch((error) => logger?.warn?.('demo: could not create a task', { error: String(error) }));
  // A first round at once so the dashboard has something to show, then one every interval.
  await Promise.all(makers.map(() => createOne()));
  const timer = setInterval(() => void createOne(), intervalMs);

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      clearInterval(timer);
      signal?.removeEventListener('abort', onAbort);
      await Promise.allSettled([worker.close({ timeoutMs: 5000 }), reporter.close()]);
    })());
  const onAbort = () => void close();
  signal?.addEventListener('abort', onAbort, { once: true });
  return { close };
}

/**
 * `@taskpulse/worker/bullmq`: turn each BullMQ job into a TaskPulse task its end user can watch —
 * live progress, stages, log, result and failure — by wrapping the processor. Only BullMQ's
 * types are imported, so this entry adds no runtime dependency.
 *
 * @example
 * ```ts
 * import { Worker } from 'bullmq';
 * import { createReporter } from '@taskpulse/worker';
 * import { withTaskPulse, taskContext } from '@taskpulse/worker/bullmq';
 *
 * const reporter = createReporter({ url: process.env.TASKPULSE_URL!, apiKey: process.env.TASKPULSE_KEY! });
 * new Worker('imports', withTaskPulse(async (job) => {
 *   await job.updateProgress({ stage: 'parse', done: 0, total: job.data.pages });   // or a plain number = percent
 *   for (let p = 1; p <= job.data.pages; p++) await job.updateProgress({ done: p, message: `Page ${p}` });
 *   return { pages: job.data.pages };
 * }, { reporter, owner: (job) => job.data.userId, type: 'pdf-import' }), { connection });
 * ```
 */
import type { Job, Processor } from 'bullmq';
import type { StageSpec, TaskContext } from './context.ts';
import { UnrecoverableError, WorkerError, isWorkerError } from './errors.ts';
import { endOf, type Reporter, type ReportedTask } from './reporter.ts';

/** What `job.updateProgress` may carry, besides a plain number (a percent, 0–100). */
export interface JobProgressReport {
  /** Enter this stage first. */
  stage?: string;
  /** Units done. */
  done?: number;
  /** Units in all. */
  total?: number;
  /** A human line. */
  message?: string;
}

/** Options of {@link withTaskPulse}. */
export interface WithTaskPulseOptions<T = any> {
  /** Reports on the tasks. Required. */
  reporter: Reporter;
  /** The end user a job belongs to (the viewer token's `sub`). Required. */
  owner: (job: Job<T>) => string;
  /** Task type. @defaultValue the job's queue name */
  type?: string | ((job: Job<T>) => string);
  /** Stages declared at creation (weights make the percent honest). @defaultValue none */
  stages?: StageSpec[] | ((job: Job<T>) => StageSpec[]);
  /** Task input as the end user may see it. @defaultValue none: job data stays private */
  input?: (job: Job<T>) => unknown;
  /** Extra tags; `bullmq:<queue>:<jobId>` is always added. */
  tags?: (job: Job<T>) => string[];
  /** Task metadata; `{bullmq: {queue, jobId, attempt, attempts}}` is always added. */
  metadata?: (job: Job<T>) => Record<string, unknown>;
}

const CONTEXTS = new WeakMap<object, TaskContext>();

/** The TaskPulse `ctx` of a job being processed by a {@link withTaskPulse} processor. */
export function taskContext(job: Job): TaskContext | undefined {
  return CONTEXTS.get(job);
}

/**
 * Wraps a BullMQ processor. Each attempt of a job becomes one running TaskPulse task:
 * - `job.updateProgress(n)` reports `n` of 100; `job.updateProgress({stage, done, total, message})` reports those;
 * - `job.log(line)` appends to the task's log;
 * - the processor's third argument (`signal`) also aborts when the end user cancels the task;
 * - the return value completes the task; a throw fails it (`error.details.willRetry` says
 *   whether BullMQ will try again — that attempt is a new task with the same `bullmq:` tag);
 * - a cancel from TaskPulse ends the job with an error named `UnrecoverableError`, so BullMQ
 *   does not retry it.
 * The original `updateProgress` and `log` still run, so BullMQ's own events keep working.
 */
export function withTaskPulse<T = any, R = any, N extends string = string>(processor: Processor<T, R, N>, options: WithTaskPulseOptions<T>): Processor<T, R, N> {
  if (typeof processor !== 'function') throw new WorkerError('invalid_option', '`processor` must be a function');
  if (!options || typeof options.reporter?.start !== 'function') throw new WorkerError('invalid_option', '`reporter` must be a TaskPulse reporter');
  if (typeof options.owner !== 'function') throw new WorkerError('invalid_option', '`owner` must be a function of the job');

  return async (job, token, bullSignal) => {
    const attempts = job.opts?.attempts ?? 1;
    const attempt = (job.attemptsMade ?? 0) + 1;
    const ctx: ReportedTask = await options.reporter.start({
      type: typeof options.type === 'function' ? options.type(job) : (options.type ?? job.queueName),
      owner: options.owner(job),
      ...(options.input ? { input: options.input(job) } : {}),
      ...(options.stages ? { stages: typeof options.stages === 'function' ? options.stages(job) : options.stages } : {}),
      tags: [`bullmq:${job.queueName}:${job.id}`.slice(0, 100), ...(options.tags?.(job) ?? [])],
      metadata: { ...(options.metadata?.(job) ?? {}), bullmq: { queue: job.queueName, jobId: job.id, name: job.name, attempt, attempts } },
      maxAttempts: 1,
      // A retried create of the same attempt returns the same task.
      idempotencyKey: `bullmq:${job.queueName}:${job.id}:${job.attemptsStarted ?? attempt}`,
    });
    CONTEXTS.set(job, ctx);
    const restore = patchJob(job, ctx);
    const signal = bullSignal ? AbortSignal.any([bullSignal, ctx.signal]) : ctx.signal;
    const end = endOf(ctx);
    try {
      const result = await processor(job, token, signal);
      await end({ ok: true, result });
      if (isWorkerError(ctx.signal.reason, 'canceled')) throw new UnrecoverableError('canceled by the user', { taskCode: 'canceled' });
      return result;
    } catch (error) {
      if (isWorkerError(ctx.signal.reason, 'canceled')) {
        await end({ ok: false, error });
        throw error instanceof UnrecoverableError ? error : new UnrecoverableError('canceled by the user', { taskCode: 'canceled', cause: error });
      }
      const unrecoverable = error instanceof Error && error.name === 'UnrecoverableError';
      const rawCode = (error as { taskCode?: unknown; code?: unknown } | null)?.taskCode ?? (error as { code?: unknown } | null)?.code;
      await ctx
        .fail(
          {
            ...(typeof rawCode === 'string' ? { code: rawCode } : {}),
            message: error instanceof Error ? error.message || error.name : String(error),
            details: { willRetry: !unrecoverable && attempt < attempts, attempt, attempts },
          },
          { retry: false },
        )
        .catch(() => {}); // the lease is gone: nothing left to report
      throw error;
    } finally {
      restore();
      CONTEXTS.delete(job);
    }
  };
}

/** Mirrors `job.updateProgress` and `job.log` into the task; returns the undo. */
function patchJob(job: Job, ctx: TaskContext): () => void {
  const updateProgress = job.updateProgress;
  const log = job.log;
  job.updateProgress = async (progress) => {
    report(ctx, progress);
    return updateProgress.call(job, progress);
  };
  job.log = async (row: string) => {
    try {
      ctx.log('info', String(row).slice(0, 1000));
    } catch {
      // a bad line must not break the job
    }
    return log.call(job, row);
  };
  return () => {
    job.updateProgress = updateProgress;
    job.log = log;
  };
}

function report(ctx: TaskContext, progress: unknown): void {
  try {
    if (typeof progress === 'number') return ctx.progress(Math.max(0, Math.min(100, progress)), 100);
    if (typeof progress !== 'object' || progress === null) return;
    const p = progress as JobProgressReport;
    if (typeof p.stage === 'string') ctx.stage(p.stage);
    if (typeof p.done === 'number') ctx.progress(p.done, typeof p.total === 'number' ? p.total : undefined, typeof p.message === 'string' ? p.message : undefined);
    else if (typeof p.message === 'string' && typeof p.total === 'number') ctx.progress(0, p.total, p.message);
  } catch {
    // BullMQ accepts any progress value; one TaskPulse cannot read is skipped, not fatal.
  }
}

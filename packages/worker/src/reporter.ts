/**
 * `createReporter`: the same `ctx` for tasks that another queue runs (BullMQ, a cron job, a
 * request handler). The task is created already running (`POST /v1/tasks` with `start: true`).
 */
import type { Lease, Task } from '@taskpulse/protocol';
import type { CreateTaskOptions, TaskContext } from './context.ts';
import { Engine, type EngineStats } from './engine.ts';
import { WorkerError } from './errors.ts';
import { resolveConnection, type ConnectionOptions } from './options.ts';
import { TaskRun, type TaskFailure } from './task-run.ts';

/** Options of {@link createReporter}: connection settings only. */
export type ReporterOptions = ConnectionOptions;

/** A task started by a reporter: the handler `ctx` plus the calls that end it. */
export interface ReportedTask extends TaskContext {
  /** Stores the result and ends the task as `completed`, after every pending report has landed. */
  complete(result?: unknown): Promise<void>;
  /** Ends the task as `failed` (or back to `queued` with `retry` while attempts remain). */
  fail(error: TaskFailure, options?: { retry?: boolean }): Promise<void>;
}

/** Reports on tasks that some other queue runs. */
export interface Reporter {
  /**
   * Creates a task already running (`start: true`) and returns its `ctx`. `maxAttempts`
   * defaults to 1 here: no worker claims such a task, so when its lease runs out (the process
   * died) the server fails it as `stalled` instead of queueing it again.
   */
  start(options: CreateTaskOptions): Promise<ReportedTask>;
  /**
   * Creates a running task, runs `fn(ctx)`, then completes it with the return value or fails it
   * with the thrown error (rethrown to the caller). Same rules as a worker's handler.
   */
  run<R>(options: CreateTaskOptions, fn: (ctx: ReportedTask) => Promise<R> | R): Promise<R>;
  /** Creates a queued task for a worker to claim. */
  create(options: CreateTaskOptions): Promise<Task>;
  /** Waits for pending reports; later calls to `start` throw `closed`. Any number of calls, one promise. */
  close(): Promise<void>;
  stats(): EngineStats;
}

/**
 * Creates a reporter.
 *
 * @example
 * ```ts
 * const reporter = createReporter({ url, apiKey });
 * const result = await reporter.run({ type: 'export', owner: user.id, stages: [{ key: 'query' }, { key: 'write' }] }, async (ctx) => {
 *   ctx.stage('query'); const rows = await query(ctx.signal);
 *   ctx.stage('write'); return writeCsv(rows, (n) => ctx.progress(n, rows.length));
 * });
 * ```
 */
export function createReporter(options: ReporterOptions): Reporter {
  const engine = new Engine(resolveConnection(options));
  const runs = new Set<TaskRun>();
  let closing: Promise<void> | null = null;

  const start = async (options: CreateTaskOptions): Promise<ReportedTask> => {
    if (closing) throw new WorkerError('closed', 'the reporter is closed');
    const sentAt = engine.config.timers.now();
    // One attempt by default: nobody claims a task another queue runs, so a lease that runs out
    // should fail it (`stalled`) rather than send it back to a queue no worker reads.
    const { task, lease } = await engine.createTask<{ task: Task; lease: Lease }>({ maxAttempts: 1, ...options, start: true, leaseMs: engine.config.leaseMs });
    if (!lease?.token) throw new WorkerError('http_error', 'the server did not hand out a lease for a started task');
    const run = new TaskRun(engine, task, lease, sentAt);
    runs.add(run);
    const forget = () => runs.delete(run);
    return {
      get task() {
        return run.task;
      },
      id: run.id,
      get signal() {
        return run.signal;
      },
      progress: (done, total, message) => run.progress(done, total, message),
      stage: (key) => run.stage(key),
      log: (level, message) => run.log(level, message),
      setMetadata: (patch) => run.setMetadata(patch),
      child: (o, r) => run.child(o, r),
      flush: () => run.flush(),
      complete: (result) => run.complete(result).finally(forget),
      fail: (error, o) => run.fail(error, o).finally(forget),
      // Used by `run()` and the BullMQ bridge: ends from an outcome with the worker's rules.
      [END]: (outcome: Parameters<TaskRun['end']>[0]) => run.end(outcome).finally(forget),
    } as ReportedTask;
  };

  return {
    start,
    async run(options, fn) {
      const ctx = await start(options);
      try {
        const result = await fn(ctx);
        await endOf(ctx)({ ok: true, result });
        return result;
      } catch (error) {
        await endOf(ctx)({ ok: false, error });
        throw error;
      }
    },
    create: (options) => engine.createTask<Task>(options),
    close() {
      closing ??= (async () => {
        await Promise.allSettled([...runs].map((run) => run.flush()));
        await engine.drain();
        engine.stop();
      })();
      return closing;
    },
    stats: () => engine.stats(),
  };
}

const END = Symbol('taskpulse.end');

/** The worker's end-of-handler rules for a reported task (internal to this package). */
export function endOf(ctx: ReportedTask): (outcome: { ok: true; result: unknown } | { ok: false; error: unknown }) => Promise<void> {
  const end = (ctx as unknown as Record<symbol, unknown>)[END];
  if (typeof end !== 'function') throw new WorkerError('invalid_argument', 'not a task started by a TaskPulse reporter');
  return end as (outcome: { ok: true; result: unknown } | { ok: false; error: unknown }) => Promise<void>;
}

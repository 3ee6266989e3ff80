/**
 * `createWorker`: claims tasks with a long poll, runs the handler with a `ctx`, and ends each
 * task from the handler's outcome. Everything about reporting lives in the engine and the run.
 */
import type { ClaimResponse, Lease, Task } from '@taskpulse/protocol';
import type { TaskContext } from './context.ts';
import { Engine, type EngineStats } from './engine.ts';
import { WorkerError, isWorkerError } from './errors.ts';
import { DEFAULTS, intOption, invalid, resolveConnection, type ConnectionConfig, type ConnectionOptions } from './options.ts';
import { TaskRun } from './task-run.ts';
import { fullJitterMs } from '@taskpulse/protocol/retry';
import { sleep } from './timers.ts';

/** A task handler: its return value is the result; a throw fails the task. */
export type Handler<R = unknown> = (task: Task, ctx: TaskContext) => Promise<R> | R;

/** Options of {@link createWorker}. */
export interface WorkerOptions extends ConnectionOptions {
  /** Task types to claim; omit to claim any type. */
  types?: string[];
  /** Handlers run at once, 1–10,000. @defaultValue `1` */
  concurrency?: number;
  /**
   * Long-poll wait of one claim request in milliseconds, 0–30,000. `close()` lets a claim in
   * flight answer (up to this long, within its deadline), so this also bounds how long closing
   * an idle worker takes. @defaultValue `5000`
   */
  claimWaitMs?: number;
  /** How long `close()` lets running handlers finish before aborting them, in milliseconds. @defaultValue `30000` */
  closeTimeoutMs?: number;
  /** Runs each claimed task. Required. */
  handler: Handler;
  /** Start claiming at once. @defaultValue `true` */
  autorun?: boolean;
}

/** Lifecycle of a worker. */
export type WorkerState = 'idle' | 'running' | 'closing' | 'closed';
/** Why the state changed. */
export type WorkerStateReason = 'started' | 'close_called' | 'closed';
/** A state change. */
export interface WorkerStateChange {
  previous: WorkerState;
  current: WorkerState;
  reason: WorkerStateReason;
}

/** Counters (for benchmarks and health checks). */
export interface WorkerStats extends EngineStats {
  /** Tasks claimed so far. */
  claimed: number;
  /** Handlers running now. */
  running: number;
}

/** A running worker. */
export interface Worker {
  readonly state: WorkerState;
  /** Starts claiming (only needed with `autorun: false`). */
  run(): void;
  /**
   * Stops claiming (the claim in flight may still answer, up to `claimWaitMs`), lets running
   * handlers finish for up to `timeoutMs`, then aborts them (`ctx.signal` reason `shutdown`) and
   * hands their tasks back to the queue. `timeoutMs: 0` aborts at once. Any number of calls
   * return the same promise.
   */
  close(options?: { timeoutMs?: number }): Promise<void>;
  /** Listens to state changes; returns the unsubscribe function. */
  subscribe(listener: (change: WorkerStateChange) => void): () => void;
  stats(): WorkerStats;
  /** The runs in progress, by task id (read-only view, for tests and diagnostics). */
  readonly runs: ReadonlyMap<string, TaskRun>;
}

interface WorkerConfig extends ConnectionConfig {
  types: string[] | undefined;
  concurrency: number;
  claimWaitMs: number;
  closeTimeoutMs: number;
  handler: Handler;
}

function resolveWorker(options: WorkerOptions): WorkerConfig {
  const base = resolveConnection(options);
  if (typeof options.handler !== 'function') throw invalid('`handler` must be a function');
  if (options.types !== undefined) {
    if (!Array.isArray(options.types) || options.types.length === 0 || options.types.some((t) => typeof t !== 'string' || t.length === 0 || t.length > 128)) {
      throw invalid(`\`types\` must be a non-empty array of 1–128 char strings, got ${JSON.stringify(options.types)}`);
    }
  }
  return {
    ...base,
    types: options.types ? [...options.types] : undefined,
    concurrency: intOption('concurrency', options.concurrency, DEFAULTS.concurrency, 1, 10_000),
    claimWaitMs: intOption('claimWaitMs', options.claimWaitMs, DEFAULTS.claimWaitMs, 0, 30_000),
    closeTimeoutMs: intOption('closeTimeoutMs', options.closeTimeoutMs, DEFAULTS.closeTimeoutMs, 0),
    handler: options.handler,
  };
}

/**
 * Creates a worker that claims tasks of `types` and runs `handler` for each.
 *
 * @example
 * ```ts
 * const worker = createWorker({
 *   url: 'http://127.0.0.1:8080', apiKey: process.env.TASKPULSE_KEY!, types: ['pdf-import'], concurrency: 4,
 *   async handler(task, ctx) {
 *     ctx.stage('parse');
 *     for (let page = 1; page <= 10; page++) { await parsePage(page, ctx.signal); ctx.progress(page, 10, `Page ${page}/10`); }
 *     return { pages: 10 };
 *   },
 * });
 * process.once('SIGTERM', () => void worker.close());
 * ```
 */
export function createWorker(options: WorkerOptions): Worker {
  return new TaskPulseWorker(resolveWorker(options), options.autorun ?? true);
}

class TaskPulseWorker implements Worker {
  readonly #config: WorkerConfig;
  readonly #engine: Engine;
  readonly #runs = new Map<string, TaskRun>();
  readonly #executions = new Map<string, Promise<void>>();
  readonly #listeners = new Set<(change: WorkerStateChange) => void>();
  readonly #claimAbort = new AbortController();
  /** Aborted as soon as close() is called: ends the claim loop's back-off waits. */
  readonly #stop = new AbortController();
  #state: WorkerState = 'idle';
  #claimed = 0;
  #slotWaiter: (() => void) | null = null;
  #loop: Promise<void> | null = null;
  #closing: Promise<void> | null = null;

  constructor(config: WorkerConfig, autorun: boolean) {
    this.#config = config;
    this.#engine = new Engine(config);
    if (autorun) this.run();
  }

  get state(): WorkerState {
    return this.#state;
  }
  get runs(): ReadonlyMap<string, TaskRun> {
    return this.#runs;
  }

  stats(): WorkerStats {
    return { ...this.#engine.stats(), claimed: this.#claimed, running: this.#runs.size };
  }

  subscribe(listener: (change: WorkerStateChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  run(): void {
    if (this.#state !== 'idle') return;
    this.#setState('running', 'started');
    this.#loop = this.#claimLoop();
  }

  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.#closing ??= this.#close(intOption('timeoutMs', options.timeoutMs, this.#config.closeTimeoutMs, 0));
    return this.#closing;
  }

  #setState(current: WorkerState, reason: WorkerStateReason): void {
    const previous = this.#state;
    if (previous === current) return;
    this.#state = current;
    for (const listener of [...this.#listeners]) {
      try {
        listener({ previous, current, reason });
      } catch (error) {
        this.#config.logger.error?.('state listener threw', { error: String(error) });
      }
    }
  }

  async #claimLoop(): Promise<void> {
    const { timers, logger } = this.#config;
    let failures = 0;
    while (this.#state === 'running') {
      if (this.#runs.size >= this.#config.concurrency) {
        await new Promise<void>((resolve) => (this.#slotWaiter = resolve));
        continue;
      }
      let claimed: ClaimResponse | undefined;
      const sentAt = timers.now();
      try {
        const response = await this.#engine.http.request<ClaimResponse>(
          'POST',
          '/v1/tasks/claim',
          { ...(this.#config.types ? { types: this.#config.types } : {}), leaseMs: this.#config.leaseMs, waitMs: this.#config.claimWaitMs },
          { signal: this.#claimAbort.signal, extraTimeoutMs: this.#config.claimWaitMs },
        );
        failures = 0;
        if (response.status === 204 || !response.body?.task) continue;
        claimed = response.body;
      } catch (error) {
        if (this.#state !== 'running') break;
        // A final refusal (bad key, bad types) will not fix itself quickly: say so, wait, retry.
        logger.error?.('claim failed', { error: String(error) });
        try {
          await sleep(timers, Math.max(1000, fullJitterMs(failures++, this.#config.backoff, this.#config.random)), this.#stop.signal);
        } catch {
          break;
        }
        continue;
      }
      this.#claimed++;
      this.#start(claimed.task, claimed.lease, sentAt);
    }
  }

  #start(task: Task, lease: Lease, sentAt: number): void {
    const run = new TaskRun(this.#engine, task, lease, sentAt);
    this.#runs.set(task.id, run);
    if (this.#state !== 'running') {
      // Claimed while closing: hand it straight back.
      run.abort(new WorkerError('shutdown'));
    }
    const execution: Promise<void> = this.#execute(run).finally(() => {
      // The same task may be claimed again here while a lost attempt's handler still runs.
      if (this.#runs.get(task.id) === run) this.#runs.delete(task.id);
      if (this.#executions.get(task.id) === execution) this.#executions.delete(task.id);
      const wake = this.#slotWaiter;
      this.#slotWaiter = null;
      wake?.();
    });
    this.#executions.set(task.id, execution);
  }

  async #execute(run: TaskRun): Promise<void> {
    if (run.signal.aborted) return run.end({ ok: false, error: run.signal.reason });
    // The handler may ignore its signal; a shutdown abort ends the task without waiting for it.
    const aborted = new Promise<'aborted'>((resolve) => run.signal.addEventListener('abort', () => {
      if (isWorkerError(run.signal.reason, 'shutdown', 'lease_lost', 'lease_expired', 'task_finished')) resolve('aborted');
    }, { once: true }));
    const handled = (async () => {
      try {
        return { ok: true as const, result: await this.#config.handler(run.task, run) };
      } catch (error) {
        return { ok: false as const, error };
      }
    })();
    const outcome = await Promise.race([handled, aborted]);
    await run.end(outcome === 'aborted' ? { ok: false, error: run.signal.reason } : outcome);
  }

  async #close(timeoutMs: number): Promise<void> {
    const { timers, logger } = this.#config;
    const wasRunning = this.#state === 'running';
    this.#setState('closing', 'close_called');
    // One deadline for the whole grace period, however it is spent.
    const deadline = new AbortController();
    const graceOver = sleep(timers, timeoutMs, deadline.signal).catch(() => {});
    const steps: Array<() => Promise<unknown> | unknown> = [
      () => this.#stop.abort(),
      () => {
        const wake = this.#slotWaiter;
        this.#slotWaiter = null;
        wake?.();
      },
      // Let the claim in flight answer rather than abort it: a task the server hands out just as
      // the request is aborted would stay leased to nobody until its lease ran out. A task that
      // does arrive now goes straight back (see #start). Handlers finish meanwhile.
      () => Promise.race([Promise.allSettled([wasRunning ? this.#loop : undefined, ...this.#executions.values()]), graceOver]),
      () => this.#claimAbort.abort(new WorkerError('closed', 'the worker is closing')),
      () => (wasRunning ? this.#loop : undefined),
      () => Promise.race([Promise.allSettled([...this.#executions.values()]), graceOver]),
      () => deadline.abort(),
      () => {
        for (const run of this.#runs.values()) run.abort(new WorkerError('shutdown', `close() deadline of ${timeoutMs} ms passed`));
      },
      () => Promise.allSettled([...this.#executions.values()]),
      () => this.#engine.drain(),
      () => this.#engine.stop(),
    ];
    // Every step runs even when one fails.
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        logger.error?.('close step failed', { error: String(error) });
      }
    }
    this.#setState('closed', 'closed');
  }
}

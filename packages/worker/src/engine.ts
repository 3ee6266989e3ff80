/**
 * The I/O shell shared by the worker and the reporter: one HTTP client, one coalescer and the
 * loop that sends its reports in batches (`POST /v1/progress`), routing each answer back to the
 * task it belongs to.
 */
import type { BatchProgressResponse, Task } from '@taskpulse/protocol';
import { Coalescer, type TakenReport } from './coalescer.ts';
import type { CreateTaskOptions } from './context.ts';
import { WorkerError } from './errors.ts';
import { Http, RawJson } from './http.ts';
import type { ConnectionConfig } from './options.ts';

/** Most bytes of JSON in one `POST /v1/progress` (the server's default body limit is 1 MiB). */
export const MAX_BATCH_BYTES = 512 * 1024;

/** The answer to one update of a batch. */
export type ReportResult =
  | { ok: true; cancelRequested: boolean; lease?: { expiresAt: string } }
  | { ok: false; error: unknown };

/** What the engine needs from a task it reports for. */
export interface Reportable {
  readonly id: string;
  /** The lease token, sent with every update. */
  readonly leaseToken: string;
  /** Epoch ms after which retrying a send for this task is pointless. */
  readonly leaseDeadline: number;
  /** Called with the server's answer to one of this task's updates, and the time it was sent. */
  onReport(result: ReportResult, sentAt: number): void;
}

/** Counters for benchmarks and tests. */
export interface EngineStats {
  /** HTTP requests sent (every attempt counts). */
  requests: number;
  /** Retries after a retryable failure. */
  retries: number;
  /** Calls to progress/stage/log/setMetadata. */
  reportCalls: number;
  /** Updates sent to the server (each one inside a batch). */
  updatesSent: number;
  /** `POST /v1/progress` requests. */
  batches: number;
}

/** One per worker or reporter: the HTTP client, the coalescer and the batch send loop. */
export class Engine {
  readonly config: ConnectionConfig;
  readonly http: Http;
  readonly coalescer: Coalescer;
  readonly #tasks = new Map<string, Reportable>();
  readonly #waiters = new Map<string, Array<() => void>>();
  #timer: unknown = null;
  #timerAt = Infinity;
  #batches = 0;
  #inFlight = new Set<Promise<void>>();

  constructor(config: ConnectionConfig) {
    this.config = config;
    this.coalescer = new Coalescer(config.throttleMs);
    this.http = new Http({
      url: config.url,
      apiKey: config.apiKey,
      fetch: config.fetch,
      timers: config.timers,
      backoff: config.backoff,
      requestTimeoutMs: config.requestTimeoutMs,
      random: config.random,
      onRetry: (info) => config.logger.debug?.('retrying request', { ...info, error: String(info.error) }),
    });
  }

  stats(): EngineStats {
    return {
      requests: this.http.requests,
      retries: this.http.retries,
      reportCalls: this.coalescer.stats().calls,
      updatesSent: this.coalescer.stats().taken,
      batches: this.#batches,
    };
  }

  /** `POST /v1/tasks`. */
  async createTask<T = Task>(options: CreateTaskOptions & { start?: boolean; leaseMs?: number }, signal?: AbortSignal): Promise<T> {
    const { idempotencyKey, ...body } = options;
    // Without a key a retried create could make two tasks; with one, a replay is harmless.
    const key = idempotencyKey ?? crypto.randomUUID();
    const response = await this.http.request<T>('POST', '/v1/tasks', body, {
      headers: { 'idempotency-key': key },
      ...(signal ? { signal } : {}),
      retryUntil: this.config.timers.now() + this.config.requestTimeoutMs,
    });
    return response.body;
  }

  register(task: Reportable): void {
    this.#tasks.set(task.id, task);
    this.coalescer.add(task.id);
  }

  /** Forgets a task and drops what it had pending; its flush waiters resolve. */
  unregister(taskId: string): void {
    this.#tasks.delete(taskId);
    this.coalescer.remove(taskId);
    this.#wake(taskId);
  }

  /** Call after changing the coalescer: (re)arms the send timer for the earliest due report. */
  kick(): void {
    const now = this.config.timers.now();
    // Nothing can be due before now: a send already armed for now (or earlier) covers it, and
    // this saves a scan of every task per report.
    if (this.#timerAt <= now) return;
    const due = this.coalescer.nextDueAt(now);
    if (due === null || due >= this.#timerAt) return;
    if (this.#timer !== null) this.config.timers.clearTimeout(this.#timer);
    this.#timerAt = due;
    // Even an immediate send waits one macrotask, so a synchronous burst becomes one report.
    this.#timer = this.config.timers.setTimeout(() => this.#send(), Math.max(0, due - now));
  }

  /** Sends everything pending for the task now and resolves once it has landed. */
  flush(taskId: string): Promise<void> {
    this.coalescer.urge(taskId);
    this.kick();
    if (!this.coalescer.busy(taskId)) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiters.get(taskId) ?? [];
      list.push(resolve);
      this.#waiters.set(taskId, list);
    });
  }

  /** Waits for every request in flight. */
  async drain(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
  }

  /** Stops the send timer (after every task is unregistered). */
  stop(): void {
    if (this.#timer !== null) this.config.timers.clearTimeout(this.#timer);
    this.#timer = null;
    this.#timerAt = Infinity;
  }

  #send(): void {
    this.#timer = null;
    this.#timerAt = Infinity;
    const now = this.config.timers.now();
    for (;;) {
      const taken = this.coalescer.take(now, this.config.maxBatch);
      if (taken.length === 0) break;
      const request = this.#sendBatch(taken, now).finally(() => this.#inFlight.delete(request));
      this.#inFlight.add(request);
    }
    this.kick();
  }

  async #sendBatch(taken: TakenReport[], sentAt: number): Promise<void> {
    // Requests stay well under the server's 1 MiB body limit, whatever the metadata sizes; a
    // task's entries keep their order because chunks go one after another.
    const chunks: Array<{ tasks: Reportable[]; updates: string[]; bytes: number }> = [];
    let retryUntil = sentAt;
    for (const { taskId, patch } of taken) {
      const task = this.#tasks.get(taskId);
      if (!task) continue;
      const update = JSON.stringify({ id: taskId, lease: task.leaseToken, leaseMs: this.config.leaseMs, ...patch });
      let chunk = chunks.at(-1);
      if (!chunk || chunk.bytes + update.length > MAX_BATCH_BYTES) chunks.push((chunk = { tasks: [], updates: [], bytes: 0 }));
      chunk.tasks.push(task);
      chunk.updates.push(update);
      chunk.bytes += update.length + 1;
      retryUntil = Math.max(retryUntil, task.leaseDeadline);
    }
    try {
      for (const chunk of chunks) await this.#sendChunk(chunk.tasks, chunk.updates, sentAt, retryUntil);
    } finally {
      for (const { taskId } of taken) {
        this.coalescer.settle(taskId);
        if (!this.coalescer.busy(taskId)) this.#wake(taskId);
      }
      this.kick();
    }
  }

  async #sendChunk(tasks: Reportable[], updates: string[], sentAt: number, retryUntil: number): Promise<void> {
    this.#batches++;
    try {
      const response = await this.http.request<BatchProgressResponse>(
        'POST',
        '/v1/progress',
        // Already serialized (to measure them): splice them in rather than stringify twice.
        new RawJson(`{"updates":[${updates.join(',')}]}`),
        { retryUntil },
      );
      const results = response.body?.results ?? [];
      tasks.forEach((task, i) => {
        const r = results[i];
        if (!r) return;
        if (r.ok) return task.onReport({ ok: true, cancelRequested: r.cancelRequested === true, ...(r.lease ? { lease: r.lease } : {}) }, sentAt);
        const serverCode = r.error.code;
        const code = serverCode === 'lease_lost' ? 'lease_lost' : serverCode === 'task_finished' ? 'task_finished' : 'http_error';
        task.onReport({ ok: false, error: new WorkerError(code, `report refused: ${serverCode}: ${r.error.message}`, serverCode ? { serverCode } : {}) }, sentAt);
      });
    } catch (error) {
      // The whole request failed for good (a final 4xx, or retries ran out): these reports are
      // lost. Each task's own lease timer decides whether it is still ours.
      this.config.logger.warn?.('progress batch dropped', { updates: updates.length, error: String(error) });
      for (const task of new Set(tasks)) task.onReport({ ok: false, error: error instanceof WorkerError ? error : new WorkerError('http_error', String(error), { cause: error }) }, sentAt);
    }
  }

  #wake(taskId: string): void {
    const list = this.#waiters.get(taskId);
    if (!list) return;
    this.#waiters.delete(taskId);
    for (const resolve of list) resolve();
  }
}

/**
 * One attempt at one task: the `ctx` a handler gets, lease renewal (heartbeats and a local expiry
 * guard) and the final `complete` / `fail`.
 */
import type { HeartbeatResponse, Task } from '@taskpulse/protocol';
import { LIMITS } from '@taskpulse/protocol';
import type { LogLevel } from './coalescer.ts';
import type { ChildTaskOptions, TaskContext } from './context.ts';
import type { Engine, Reportable, ReportResult } from './engine.ts';
import { UnrecoverableError, WorkerError, isWorkerError } from './errors.ts';

/** Lifecycle of one attempt. */
export type RunState = 'running' | 'finishing' | 'done' | 'lost';

/** How a handler ended. */
export type HandlerOutcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/** What `fail` stores on the task. */
export interface TaskFailure {
  /** `error.code` on the task, 1–128 chars. @defaultValue `'error'` */
  code?: string;
  /** Human message, up to 1,000 chars (longer ones are cut). */
  message: string;
  /** A JSON object up to 16 KiB. */
  details?: Record<string, unknown>;
}

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * One attempt: implements the handler's {@link TaskContext}, renews the lease and sends the final
 * state. Created by the worker for each claim and by the reporter for each `start`.
 */
export class TaskRun implements TaskContext, Reportable {
  readonly task: Task;
  readonly id: string;
  readonly leaseToken: string;
  readonly #engine: Engine;
  readonly #controller = new AbortController();
  readonly #metadata: Record<string, unknown>;
  #state: RunState = 'running';
  #renewedAt: number;
  #heartbeatTimer: unknown = null;
  #expiryTimer: unknown = null;
  #heartbeating = false;
  #ending: Promise<void> | null = null;
  #lostReason: WorkerError | null = null;

  constructor(engine: Engine, task: Task, lease: { token: string }, startedAt: number) {
    this.#engine = engine;
    this.task = task;
    this.id = task.id;
    this.leaseToken = lease.token;
    this.#metadata = { ...(task.metadata ?? {}) };
    this.#renewedAt = startedAt;
    engine.register(this);
    this.#armTimers();
  }

  get signal(): AbortSignal {
    return this.#controller.signal;
  }
  get state(): RunState {
    return this.#state;
  }
  /** Why the lease is gone, when it is. */
  get lostReason(): WorkerError | null {
    return this.#lostReason;
  }
  get leaseDeadline(): number {
    return this.#renewedAt + this.#engine.config.leaseMs;
  }

  // ------------------------------------------------------------------ ctx

  progress(done: number, total?: number, message?: string): void {
    if (typeof done !== 'number' || !Number.isFinite(done) || done < 0) throw argument(`\`done\` must be a finite number ≥ 0, got ${done}`);
    if (total !== undefined && (typeof total !== 'number' || !Number.isFinite(total) || total <= 0)) throw argument(`\`total\` must be a finite number > 0, got ${total}`);
    if (total !== undefined && done > total) throw argument(`\`done\` (${done}) must not exceed \`total\` (${total})`);
    if (message !== undefined) checkText('message', message);
    if (!this.#accepting()) return;
    this.#engine.coalescer.progress(this.id, { done, ...(total !== undefined ? { total } : {}), ...(message !== undefined ? { message } : {}) });
    this.#engine.kick();
  }

  stage(key: string): void {
    if (typeof key !== 'string' || key.length === 0 || key.length > LIMITS.idChars) throw argument(`stage key must be 1–${LIMITS.idChars} chars, got ${JSON.stringify(key)}`);
    if (!this.#accepting()) return;
    this.#engine.coalescer.stage(this.id, key);
    this.#engine.kick();
  }

  log(level: LogLevel, message: string): void {
    if (!LOG_LEVELS.includes(level)) throw argument(`log level must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
    checkText('message', message);
    if (!this.#accepting()) return;
    this.#engine.coalescer.log(this.id, level, message);
    this.#engine.kick();
  }

  setMetadata(patch: Record<string, unknown>): void {
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw argument('metadata patch must be a plain object');
    const next = { ...this.#metadata, ...patch };
    const size = Buffer.byteLength(JSON.stringify(next));
    if (size > LIMITS.metadataBytes) throw argument(`metadata must be at most ${LIMITS.metadataBytes} bytes of JSON, got ${size}`);
    Object.assign(this.#metadata, patch);
    if (!this.#accepting()) return;
    this.#engine.coalescer.metadata(this.id, { ...this.#metadata });
    this.#engine.kick();
  }

  child(options: ChildTaskOptions, request: { signal?: AbortSignal } = {}): Promise<Task> {
    // A lost attempt must not add children: the attempt that owns the task now will.
    if (this.#state === 'lost') return Promise.reject(this.#lostReason);
    return this.#engine.createTask<Task>({ ...options, owner: options.owner ?? this.task.owner, parentId: this.id }, request.signal);
  }

  flush(): Promise<void> {
    return this.#engine.flush(this.id);
  }

  // ------------------------------------------------------------------ reports and lease

  onReport(result: ReportResult, sentAt: number): void {
    if (this.#state === 'done' || this.#state === 'lost') return;
    if (result.ok) {
      this.#renewed(sentAt);
      if (result.cancelRequested) this.#abort(new WorkerError('canceled', 'cancellation requested'));
    } else if (isWorkerError(result.error, 'lease_lost', 'task_finished')) {
      this.lose(result.error);
    } else {
      this.#engine.config.logger.warn?.('report dropped', { taskId: this.id, error: String(result.error) });
    }
  }

  /** The lease is gone: abort the handler, drop pending reports, never complete. */
  lose(reason: WorkerError): void {
    if (this.#state === 'done' || this.#state === 'lost') return;
    this.#state = 'lost';
    this.#lostReason = reason;
    this.#stopTimers();
    this.#engine.unregister(this.id);
    this.#abort(reason);
  }

  /**
   * Stops everything without telling the server, as if the process died: no more reports, no
   * heartbeats, no final state. The lease runs out on the server. For tests and emergencies.
   */
  abandon(): void {
    this.lose(new WorkerError('lease_expired', 'abandoned'));
  }

  /** Aborts `ctx.signal` (first reason wins). */
  abort(reason: WorkerError): void {
    this.#abort(reason);
  }

  #abort(reason: WorkerError): void {
    if (!this.#controller.signal.aborted) this.#controller.abort(reason);
  }

  #renewed(at: number): void {
    if (at <= this.#renewedAt) return;
    // Only the time moves: the timers already armed read it when they fire and re-arm for the
    // rest (no clear + set of two timers per report; every report renews the lease).
    this.#renewedAt = at;
  }

  #armTimers(): void {
    this.#stopTimers();
    this.#armHeartbeat();
    this.#armExpiry();
  }

  /** The heartbeat is due `heartbeatMs` after the last renewal; a renewal since arming moves it. */
  #armHeartbeat(): void {
    const { timers, heartbeatMs } = this.#engine.config;
    const armedFor = this.#renewedAt;
    this.#heartbeatTimer = timers.setTimeout(() => {
      if (this.#renewedAt !== armedFor) this.#armHeartbeat();
      else void this.#heartbeat();
    }, Math.max(0, this.#renewedAt + heartbeatMs - timers.now()));
  }

  #armExpiry(): void {
    const { timers, leaseMs } = this.#engine.config;
    this.#expiryTimer = timers.setTimeout(() => {
      if (this.#renewedAt + leaseMs <= timers.now()) this.lose(new WorkerError('lease_expired', `no renewal within leaseMs (${leaseMs} ms)`));
      else this.#armExpiry();
    }, Math.max(0, this.#renewedAt + leaseMs - timers.now()));
  }

  #stopTimers(): void {
    const { timers } = this.#engine.config;
    if (this.#heartbeatTimer !== null) timers.clearTimeout(this.#heartbeatTimer);
    if (this.#expiryTimer !== null) timers.clearTimeout(this.#expiryTimer);
    this.#heartbeatTimer = this.#expiryTimer = null;
  }

  async #heartbeat(): Promise<void> {
    if (this.#heartbeating || this.#state === 'done' || this.#state === 'lost') return;
    this.#heartbeating = true;
    const sentAt = this.#engine.config.timers.now();
    try {
      const { body } = await this.#engine.http.request<HeartbeatResponse>(
        'POST',
        `/v1/tasks/${encodeURIComponent(this.id)}/heartbeat`,
        { lease: this.leaseToken, leaseMs: this.#engine.config.leaseMs },
        { retryUntil: this.leaseDeadline },
      );
      this.onReport({ ok: true, cancelRequested: body?.cancelRequested === true }, sentAt);
    } catch (error) {
      this.onReport({ ok: false, error }, sentAt);
    } finally {
      this.#heartbeating = false;
      if ((this.#state === 'running' || this.#state === 'finishing') && this.#heartbeatTimer !== null) {
        const { timers, heartbeatMs } = this.#engine.config;
        timers.clearTimeout(this.#heartbeatTimer);
        // Still ours but not renewed (e.g. a dropped heartbeat): try again at the next interval.
        if (this.#renewedAt < sentAt) this.#heartbeatTimer = timers.setTimeout(() => void this.#heartbeat(), heartbeatMs);
        else this.#armHeartbeat();
      }
    }
  }

  #accepting(): boolean {
    return this.#state === 'running';
  }

  // ------------------------------------------------------------------ the end

  /**
   * Ends the attempt from the handler's outcome; only the first call counts.
   * - lease gone → nothing is sent;
   * - canceled → `fail` `{code: "canceled"}`, no retry; shut down → `fail` `{code: "shutdown"}`, retry;
   * - returned → `complete(result)` (a result the server refuses fails the task: `invalid_result`);
   * - threw → `fail`, retried unless it is an {@link UnrecoverableError}.
   */
  end(outcome: HandlerOutcome): Promise<void> {
    this.#ending ??= this.#end(outcome).catch((error) => {
      if (!isWorkerError(error, 'lease_lost', 'task_finished', 'lease_expired')) {
        this.#engine.config.logger.error?.('could not end task', { taskId: this.id, error: String(error) });
      }
    });
    return this.#ending;
  }

  async #end(outcome: HandlerOutcome): Promise<void> {
    if (this.#state !== 'running') return;
    const reason = this.signal.aborted ? (this.signal.reason as unknown) : null;
    if (isWorkerError(reason, 'canceled')) return this.fail({ code: 'canceled', message: 'Canceled' }, { retry: false });
    if (isWorkerError(reason, 'shutdown')) return this.fail({ code: 'shutdown', message: 'The worker shut down before the task finished' }, { retry: true });
    if (outcome.ok) {
      try {
        return await this.complete(outcome.result);
      } catch (error) {
        if (isWorkerError(error, 'http_error') && (error.status === 400 || error.status === 413)) {
          this.#state = 'running';
          return this.fail({ code: 'invalid_result', message: `The server refused the result: ${error.message}` }, { retry: false });
        }
        throw error;
      }
    }
    const error = outcome.error;
    if (error instanceof UnrecoverableError) return this.fail({ code: error.taskCode, message: error.message }, { retry: false });
    return this.fail(describe(error), { retry: true });
  }

  /** `POST /complete` after every pending report has landed. Throws when the lease is gone. */
  complete(result?: unknown): Promise<void> {
    return this.#finish('complete', result === undefined ? {} : { result });
  }

  /** `POST /fail` after every pending report has landed; `retry` sends the task back to the queue when attempts remain. */
  fail(error: TaskFailure, options: { retry?: boolean } = {}): Promise<void> {
    const body = {
      error: {
        ...(error.code !== undefined && ERROR_CODE.test(error.code) ? { code: error.code } : { code: 'error' }),
        message: String(error.message ?? '').slice(0, LIMITS.messageChars),
        ...(error.details ? { details: error.details } : {}),
      },
      retry: options.retry ?? false,
    };
    return this.#finish('fail', body);
  }

  async #finish(action: 'complete' | 'fail', body: Record<string, unknown>): Promise<void> {
    if (this.#state !== 'running') throw this.#lostReason ?? new WorkerError('task_finished', `task ${this.id} already ended here`);
    this.#state = 'finishing';
    await this.#engine.flush(this.id);
    if (this.#state !== 'finishing') throw this.#lostReason ?? new WorkerError('task_finished');
    try {
      await this.#engine.http.request('POST', `/v1/tasks/${encodeURIComponent(this.id)}/${action}`, { lease: this.leaseToken, ...body }, {
        retryUntil: this.leaseDeadline,
      });
    } catch (error) {
      // A retried request whose first try landed meets its own work: the task is over either way.
      if (isWorkerError(error, 'task_finished')) {
        this.#engine.config.logger.debug?.(`${action}: task already finished`, { taskId: this.id });
        this.#state = 'running';
        this.lose(error);
        return;
      }
      if (isWorkerError(error, 'lease_lost', 'lease_expired')) this.lose(error);
      else if (this.#state === 'finishing') this.#state = 'running';
      throw error;
    }
    this.#state = 'done';
    this.#stopTimers();
    this.#engine.unregister(this.id);
  }
}

function argument(message: string): WorkerError {
  return new WorkerError('invalid_argument', message);
}

function checkText(name: string, value: unknown): void {
  if (typeof value !== 'string') throw argument(`\`${name}\` must be a string`);
  if (value.length > LIMITS.messageChars) throw argument(`\`${name}\` must be at most ${LIMITS.messageChars} chars, got ${value.length}`);
  if (value.includes('\u0000')) throw argument(`\`${name}\` must not contain NUL bytes`);
}

function describe(error: unknown): TaskFailure {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      code: typeof code === 'string' && ERROR_CODE.test(code) ? code : 'error',
      message: error.message || error.name,
      details: { name: error.name },
    };
  }
  return { code: 'error', message: String(error) };
}

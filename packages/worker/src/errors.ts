/**
 * The worker SDK's one error module. Every error it throws or hands to an `AbortSignal` is a
 * {@link WorkerError} with a stable `code`; `test/errors.test.ts` keeps the list complete and unique.
 */

/** Every code a {@link WorkerError} may carry, with what it means. */
export const WORKER_ERROR_CODES = Object.freeze({
  /** An option given to `createWorker` / `createReporter` is invalid. */
  invalid_option: 'an option is invalid',
  /** An argument to a `ctx` method is invalid (e.g. a negative `done`). */
  invalid_argument: 'an argument is invalid',
  /** The server answered 409 `lease_lost`: another attempt owns the task now. */
  lease_lost: 'the lease was lost',
  /** The lease could not be renewed before it ran out (server unreachable). */
  lease_expired: 'the lease ran out before it could be renewed',
  /** The server answered 409 `task_finished`: the task already ended. */
  task_finished: 'the task already finished',
  /** A viewer or the app asked to cancel the task. */
  canceled: 'the task was canceled',
  /** The worker is shutting down and its close deadline passed. */
  shutdown: 'the worker shut down',
  /** The worker or reporter is closed. */
  closed: 'closed',
  /** The server refused a request with a final (non-retryable) status. */
  http_error: 'the server refused the request',
  /** Retries of a retryable failure ran out (deadline passed). */
  retries_exhausted: 'retries ran out',
  /** The caller aborted the request. */
  aborted: 'aborted',
  /** The handler threw an {@link UnrecoverableError}. */
  unrecoverable: 'unrecoverable handler error',
} as const);

/** A stable error code of the worker SDK. */
export type WorkerErrorCode = keyof typeof WORKER_ERROR_CODES;

/** Extra facts an error may carry. */
export interface WorkerErrorOptions {
  /** HTTP status of the answer that caused it, when there was one. */
  status?: number;
  /** The server's `error.code`, when the server sent one. */
  serverCode?: string;
  /** Underlying error. */
  cause?: unknown;
}

/** An error of the worker SDK: a stable `code`, the HTTP `status` where one applies, and `cause`. */
export class WorkerError extends Error {
  /** Stable machine-readable code; see {@link WORKER_ERROR_CODES}. */
  readonly code: WorkerErrorCode;
  /** HTTP status of the answer that caused it, if any. */
  readonly status?: number;
  /** The server's `error.code`, if any. */
  readonly serverCode?: string;
  constructor(code: WorkerErrorCode, message: string = WORKER_ERROR_CODES[code], options: WorkerErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'WorkerError';
    this.code = code;
    if (options.status !== undefined) this.status = options.status;
    if (options.serverCode !== undefined) this.serverCode = options.serverCode;
  }
}

/**
 * Throw this from a handler to fail the task for good: no retry, whatever attempts remain.
 *
 * @example
 * ```ts
 * if (!input.url) throw new UnrecoverableError('input.url is required');
 * ```
 */
export class UnrecoverableError extends Error {
  /** Always `unrecoverable`; the task's `error.code` is this error's `taskCode` instead. */
  readonly code = 'unrecoverable' as const;
  /** The `error.code` stored on the task. @defaultValue `'unrecoverable'` */
  readonly taskCode: string;
  constructor(message: string, options: { cause?: unknown; taskCode?: string } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'UnrecoverableError';
    this.taskCode = options.taskCode ?? 'unrecoverable';
  }
}

/** True when `error` is a {@link WorkerError}, optionally with one of the given codes. */
export function isWorkerError(error: unknown, ...codes: WorkerErrorCode[]): error is WorkerError {
  return error instanceof WorkerError && (codes.length === 0 || codes.includes(error.code));
}

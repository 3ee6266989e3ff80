/**
 * The client's errors. Every error has a stable `code`; errors from the server keep the server's
 * code (API.md, Conventions) and its HTTP status.
 */
import { isRetryableStatus } from '@taskpulse/protocol/retry';

/** Codes the client itself produces; server codes (`not_found`, `task_finished`, …) pass through. */
export const CLIENT_ERROR_CODES = Object.freeze({
  /** An option given to `createClient` is invalid. */
  invalid_options: 'an option given to createClient is invalid',
  /** The request never got an answer: DNS, refused, reset, CORS. */
  network: 'the server could not be reached',
  /** The request took longer than `requestTimeoutMs`. */
  timeout: 'the server did not answer in time',
  /** The caller's `signal` aborted the call. */
  aborted: 'the call was aborted',
  /** The client was closed. */
  closed: 'the client is closed',
  /** The server answered with something that is not the documented JSON. */
  bad_response: 'the server answered with an unexpected body',
  /** The credentials were refused and no new token could be obtained. */
  unauthorized: 'the credentials were refused',
} as const);

export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES;

/** Options of {@link TaskPulseClientError}. */
export interface ClientErrorOptions {
  /** HTTP status of the answer, when there was one. */
  status?: number;
  details?: Record<string, unknown>;
  cause?: unknown;
  /** `Retry-After` of a 429/503, in milliseconds. */
  retryAfterMs?: number;
}

/** An error from the TaskPulse client: a client code, or the server's code with its status. */
export class TaskPulseClientError extends Error {
  /** Stable, snake_case: a {@link ClientErrorCode} or the server's error code. */
  readonly code: ClientErrorCode | (string & {});
  /** The HTTP status, when the server answered. */
  readonly status: number | undefined;
  readonly details: Record<string, unknown> | undefined;
  readonly retryAfterMs: number | undefined;

  constructor(code: ClientErrorCode | (string & {}), message: string, options: ClientErrorOptions = {}) {
    super(message, options); // Error reads `cause` from it (ES2022)
    this.name = 'TaskPulseClientError';
    this.code = code;
    this.status = options.status;
    this.details = options.details;
    this.retryAfterMs = options.retryAfterMs;
  }

  /**
   * Worth retrying: network errors, timeouts, 5xx, 408 and 429. Other 4xx are final.
   */
  get retryable(): boolean {
    if (this.code === 'network' || this.code === 'timeout') return true;
    return this.status !== undefined && isRetryableStatus(this.status);
  }
}

/** Builds a client-side error with its standard message. */
export function clientError(code: ClientErrorCode, options?: ClientErrorOptions, message?: string): TaskPulseClientError {
  return new TaskPulseClientError(code, message ?? CLIENT_ERROR_CODES[code], options);
}

/** True for a refusal of the credentials that no refresh could fix. */
export function isUnauthorized(error: unknown): boolean {
  return error instanceof TaskPulseClientError && error.code === 'unauthorized';
}

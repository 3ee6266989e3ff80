/**
 * The HTTP shell: JSON requests to the TaskPulse API with bearer auth, a per-request timeout and
 * retries (network errors, 5xx, 408, 429) with full-jitter backoff, a `Retry-After` being the
 * minimum wait. Final answers become {@link WorkerError}s.
 */
import { parseErrorBody } from '@taskpulse/protocol/error-body';
import { isRetryableStatus, parseRetryAfterMs, retryDelayMs, type BackoffOptions } from '@taskpulse/protocol/retry';
import { WorkerError } from './errors.ts';
import { sleep, type Timers } from './timers.ts';

/** The subset of `fetch` the SDK needs; pass your own for proxies, extra headers or counting. */
export type FetchLike = (input: string, init: { method: string; headers: Record<string, string>; body?: string; signal?: AbortSignal }) => Promise<{
  status: number;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}>;

/** A request body that is already JSON text (sent as is). */
export class RawJson {
  constructor(readonly text: string) {}
}

/** Resolved settings of {@link Http}. */
export interface HttpConfig {
  url: string;
  apiKey: string;
  fetch: FetchLike;
  timers: Timers;
  backoff: BackoffOptions;
  requestTimeoutMs: number;
  random: () => number;
  /** Called before each retry (for logs and counters). */
  onRetry?: (info: { path: string; attempt: number; delayMs: number; status: number | null; error?: unknown }) => void;
}

/** Per-request settings of {@link Http.request}. */
export interface RequestOptions {
  /** Aborts the request and any wait between retries. */
  signal?: AbortSignal;
  /** Epoch ms after which no retry starts; `undefined` = retry until `signal` aborts. `0` = never retry. */
  retryUntil?: number;
  /** Extra milliseconds on top of the request timeout (long polls). */
  extraTimeoutMs?: number;
  headers?: Record<string, string>;
}

/** A successful (2xx/304) answer. */
export interface HttpResponse<T> {
  status: number;
  body: T;
  /** How many attempts it took (1 = first try). */
  attempts: number;
}

/** JSON over HTTP with auth, timeouts and retries; counts every attempt. */
export class Http {
  readonly #config: HttpConfig;
  #requests = 0;
  #retries = 0;

  constructor(config: HttpConfig) {
    this.#config = { ...config, url: config.url.replace(/\/+$/, '') };
  }

  /** Requests sent so far (every attempt counts). */
  get requests(): number {
    return this.#requests;
  }
  get retries(): number {
    return this.#retries;
  }

  /** Sends one request, retrying retryable failures; throws a {@link WorkerError} on a final one. */
  async request<T>(method: string, path: string, body: unknown, options: RequestOptions = {}): Promise<HttpResponse<T>> {
    const { timers } = this.#config;
    for (let attempt = 0; ; attempt++) {
      if (options.signal?.aborted) throw abortError(options.signal);
      let status: number | null = null;
      let retryAfterMs: number | null = null;
      let failure: unknown;
      try {
        const response = await this.#once(method, path, body, options);
        status = response.status;
        const text = await response.text();
        if (status < 300 || status === 304) return { status, body: (text ? JSON.parse(text) : undefined) as T, attempts: attempt + 1 };
        failure = toHttpError(status, text, method, path);
        retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'), timers.now());
      } catch (error) {
        if (options.signal?.aborted) throw abortError(options.signal);
        if (error instanceof WorkerError) throw error;
        failure = new WorkerError('http_error', `${method} ${path}: network error: ${(error as Error)?.message ?? error}`, { cause: error });
      }
      if (!isRetryableStatus(status)) throw failure;
      const delayMs = retryDelayMs(attempt, this.#config.backoff, retryAfterMs, this.#config.random);
      const until = options.retryUntil;
      if (until !== undefined && timers.now() + delayMs > until) {
        throw new WorkerError('retries_exhausted', `${method} ${path}: gave up after ${attempt + 1} attempts`, {
          cause: failure,
          ...(status !== null ? { status } : {}),
        });
      }
      this.#retries++;
      this.#config.onRetry?.({ path, attempt: attempt + 1, delayMs, status, error: failure });
      try {
        await sleep(timers, delayMs, options.signal);
      } catch {
        throw abortError(options.signal!);
      }
    }
  }

  async #once(method: string, path: string, body: unknown, options: RequestOptions) {
    const timeout = new AbortController();
    const handle = this.#config.timers.setTimeout(
      () => timeout.abort(new Error(`timed out after ${this.#config.requestTimeoutMs + (options.extraTimeoutMs ?? 0)} ms`)),
      this.#config.requestTimeoutMs + (options.extraTimeoutMs ?? 0),
    );
    const signal = options.signal ? AbortSignal.any([options.signal, timeout.signal]) : timeout.signal;
    const headers: Record<string, string> = { authorization: `Bearer ${this.#config.apiKey}`, ...options.headers };
    if (body !== undefined) headers['content-type'] = 'application/json';
    this.#requests++;
    try {
      return await this.#config.fetch(this.#config.url + path, {
        method,
        headers,
        ...(body !== undefined ? { body: body instanceof RawJson ? body.text : JSON.stringify(body) } : {}),
        signal,
      });
    } catch (error) {
      // A timeout is a network error (retryable); the caller's abort is handled by the caller.
      if (timeout.signal.aborted && !options.signal?.aborted) throw timeout.signal.reason;
      throw error;
    } finally {
      this.#config.timers.clearTimeout(handle);
    }
  }
}

function abortError(signal: AbortSignal): WorkerError {
  return signal.reason instanceof WorkerError ? signal.reason : new WorkerError('aborted', 'the request was aborted', { cause: signal.reason });
}

/** Maps a final answer to an error: 409 `lease_lost`/`task_finished` keep their own codes. */
function toHttpError(status: number, text: string, method: string, path: string): WorkerError {
  const { code: serverCode, message: serverMessage } = parseErrorBody(text);
  let message = `${method} ${path}: HTTP ${status}`;
  if (serverMessage !== undefined) message += ` ${serverCode}: ${serverMessage}`;
  const code = serverCode === 'lease_lost' ? 'lease_lost' : serverCode === 'task_finished' ? 'task_finished' : 'http_error';
  return new WorkerError(code, message, { status, ...(serverCode ? { serverCode } : {}) });
}

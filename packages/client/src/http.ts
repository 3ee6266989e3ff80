/**
 * HTTP with the TaskPulse conventions: bearer credential, JSON bodies, the error envelope
 * (API.md, Conventions), a timeout per request, one token refresh on 401.
 */
import type { TokenSource } from './auth.ts';
import type { Environment } from './environment.ts';
import { parseErrorBody } from '@taskpulse/protocol/error-body';
import { parseRetryAfterMs } from '@taskpulse/protocol/retry';
import { clientError, TaskPulseClientError } from './errors.ts';

/** Options every async call of the client takes. */
export interface CallOptions {
  /** Aborts the call. */
  signal?: AbortSignal;
}

export interface RequestOptions extends CallOptions {
  query?: Record<string, string | number | undefined>;
  body?: unknown;
  /** No timeout (the stream: the watchdog guards it). */
  noTimeout?: boolean;
  headers?: Record<string, string>;
}

export class Http {
  #base: string;
  #env: Environment;
  #tokens: TokenSource;
  #timeoutMs: number;

  constructor(base: string, env: Environment, tokens: TokenSource, timeoutMs: number) {
    this.#base = base;
    this.#env = env;
    this.#tokens = tokens;
    this.#timeoutMs = timeoutMs;
  }

  /** The credential to use now (for EventSource's `?access_token=`). */
  token(): Promise<string> {
    return this.#tokens.current();
  }

  /** Sends a request and returns the raw response; a 401 refreshes the token and retries once. */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    let token = await this.#tokens.current();
    for (let retried = false; ; retried = true) {
      const response = await this.#fetch(method, path, token, options);
      if (response.status !== 401) return response;
      // The second 401 (a fresh token refused too) throws here unless getToken() has yet another.
      token = await this.#tokens.replace(token, await errorCode(response));
      if (retried) return response;
    }
  }

  /** Sends a request and parses the JSON answer; a non-2xx answer throws its error. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    if (!response.ok) throw await toError(response, this.#env.now());
    if (response.status === 204) return undefined as T;
    try {
      return (await response.json()) as T;
    } catch (cause) {
      throw clientError('bad_response', { status: response.status, cause });
    }
  }

  async #fetch(method: string, path: string, token: string, options: RequestOptions): Promise<Response> {
    const url = this.#base + path + queryString(options.query);
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...options.headers };
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.body);
    }
    const controller = new AbortController();
    const outer = options.signal;
    if (outer?.aborted) throw clientError('aborted', { cause: outer.reason });
    const onAbort = () => controller.abort(clientError('aborted', { cause: outer?.reason }));
    outer?.addEventListener('abort', onAbort, { once: true });
    const timer = options.noTimeout
      ? undefined
      : this.#env.timers.setTimeout(() => controller.abort(clientError('timeout')), this.#timeoutMs);
    try {
      return await this.#env.fetch(url, { method, headers, body, signal: controller.signal });
    } catch (cause) {
      const reason = controller.signal.reason;
      if (controller.signal.aborted && reason instanceof TaskPulseClientError) throw reason;
      throw clientError('network', { cause });
    } finally {
      // The stream's timer-free request keeps its abort link: the caller aborts it to close it.
      if (timer !== undefined) this.#env.timers.clearTimeout(timer);
      if (!options.noTimeout) outer?.removeEventListener('abort', onAbort);
    }
  }
}

/** `?a=1&b=2` (undefined values left out), or `''`. */
export function queryString(query: RequestOptions['query'] = {}): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) if (v !== undefined) params.set(k, String(v));
  const s = params.toString();
  return s && `?${s}`;
}

async function errorCode(response: Response): Promise<string | undefined> {
  const { code, details } = parseErrorBody(await response.clone().text().catch(() => ''));
  // Expiry is `token_expired`, or `unauthorized` with `details.reason: "token_expired"`.
  return details?.reason === 'token_expired' ? 'token_expired' : code;
}

/**
 * The error of a non-2xx answer, from the API's envelope when there is one; a `Retry-After`
 * (seconds or an HTTP-date) becomes `retryAfterMs`.
 */
export async function toError(response: Response, nowMs = Date.now()): Promise<TaskPulseClientError> {
  const retryAfterMs = parseRetryAfterMs(response.headers.get('retry-after'), nowMs) ?? undefined;
  const body = parseErrorBody(await response.text().catch(() => ''));
  return new TaskPulseClientError(body.code ?? `http_${response.status}`, body.message ?? `the server answered ${response.status}`, {
    status: response.status,
    details: body.details,
    retryAfterMs,
  });
}

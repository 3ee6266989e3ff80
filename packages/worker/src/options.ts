/**
 * Options of `createWorker` and `createReporter`: defaults in one frozen object (units in the
 * names), validated when the object is built — bad input is an error, never a silent default.
 */
import type { BackoffOptions } from '@taskpulse/protocol/retry';
import { WorkerError } from './errors.ts';
import type { FetchLike } from './http.ts';
import { nodeFetch } from './node-fetch.ts';
import { SYSTEM_TIMERS, type Timers } from './timers.ts';

/** Every default, in one place. */
export const DEFAULTS = Object.freeze({
  /** Handlers run at once. */
  concurrency: 1,
  /** Lease length asked for at claim and at every renewal, in ms. */
  leaseMs: 30_000,
  /** At most one progress send per task per this many ms. */
  throttleMs: 500,
  /** Long-poll wait of one claim request, in ms (server maximum 30,000). */
  claimWaitMs: 5_000,
  /** How long `close()` lets running handlers finish before aborting them, in ms. */
  closeTimeoutMs: 30_000,
  /** Timeout of one HTTP request (a claim adds its `claimWaitMs`), in ms. */
  requestTimeoutMs: 30_000,
  /** Retry backoff: first ceiling in ms, doubling per attempt. */
  retryBaseMs: 200,
  /** Retry backoff: largest ceiling in ms. */
  retryMaxMs: 10_000,
  /** Most updates in one `POST /v1/progress` (server maximum 1,000). */
  maxBatch: 500,
});

/** Where the SDK writes what it does not throw. Every method is optional. */
export interface Logger {
  debug?(message: string, details?: Record<string, unknown>): void;
  info?(message: string, details?: Record<string, unknown>): void;
  warn?(message: string, details?: Record<string, unknown>): void;
  error?(message: string, details?: Record<string, unknown>): void;
}

/** The default logger: warnings and errors to the console, nothing else. */
export const CONSOLE_LOGGER: Logger = Object.freeze({
  warn: (message: string, details?: Record<string, unknown>) => console.warn(`[taskpulse] ${message}`, details ?? ''),
  error: (message: string, details?: Record<string, unknown>) => console.error(`[taskpulse] ${message}`, details ?? ''),
});

/** Options shared by {@link WorkerOptions} and the reporter's options. */
export interface ConnectionOptions {
  /** Base URL of the TaskPulse server, e.g. `http://127.0.0.1:8080`. Required. */
  url: string;
  /** A worker (or admin) API key, sent as `Authorization: Bearer <apiKey>`. Required. */
  apiKey: string;
  /**
   * Lease length in milliseconds, 1,000–3,600,000: how long the task stays ours without a
   * renewal. Renewals happen on every report and, when no report renewed it, by a heartbeat at
   * about a third of this. @defaultValue `30000`
   */
  leaseMs?: number;
  /**
   * Minimum gap between two progress sends of one task, in milliseconds (stage changes, logs
   * before the end and the final state are sent regardless). @defaultValue `500`
   */
  throttleMs?: number;
  /** Heartbeat interval in milliseconds when no report renewed the lease. @defaultValue `leaseMs / 3` */
  heartbeatMs?: number;
  /** Timeout of one HTTP request in milliseconds. @defaultValue `30000` */
  requestTimeoutMs?: number;
  /** First retry backoff ceiling in milliseconds (full jitter, doubling). @defaultValue `200` */
  retryBaseMs?: number;
  /** Largest retry backoff ceiling in milliseconds. @defaultValue `10000` */
  retryMaxMs?: number;
  /** Most updates in one batched progress request, 1–1,000. @defaultValue `500` */
  maxBatch?: number;
  /**
   * Custom `fetch`: the escape hatch for proxies, headers and instrumentation.
   * @defaultValue a `node:http`/`node:https` transport with a keep-alive agent (node-fetch.ts:
   * less than half the CPU per request of the global `fetch`)
   */
  fetch?: FetchLike;
  /** Where warnings go. @defaultValue {@link CONSOLE_LOGGER} */
  logger?: Logger;
  /** Clock and timers (tests pass fake ones). @defaultValue {@link SYSTEM_TIMERS} */
  timers?: Timers;
  /** Random source for backoff jitter, in [0, 1). @defaultValue `Math.random` */
  random?: () => number;
}

/** {@link ConnectionOptions} with defaults resolved. */
export interface ConnectionConfig {
  url: string;
  apiKey: string;
  leaseMs: number;
  throttleMs: number;
  heartbeatMs: number;
  requestTimeoutMs: number;
  backoff: BackoffOptions;
  maxBatch: number;
  fetch: FetchLike;
  logger: Logger;
  timers: Timers;
  random: () => number;
}

/** An `invalid_option` error. */
export function invalid(message: string): WorkerError {
  return new WorkerError('invalid_option', message);
}

/** Checks that `value` is an integer in [min, max] and returns it; `undefined` gives `fallback`. */
export function intOption(name: string, value: unknown, fallback: number, min: number, max: number = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalid(`\`${name}\` must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Validates connection options and resolves their defaults. */
export function resolveConnection(options: ConnectionOptions): ConnectionConfig {
  if (typeof options !== 'object' || options === null) throw invalid('options must be an object');
  if (typeof options.url !== 'string') throw invalid(`\`url\` must be a string, got ${typeof options.url}`);
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw invalid(`\`url\` must be an absolute http(s) URL, got ${JSON.stringify(options.url)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`\`url\` must be http or https, got ${url.protocol}`);
  if (typeof options.apiKey !== 'string' || options.apiKey.length === 0) throw invalid('`apiKey` must be a non-empty string');
  const leaseMs = intOption('leaseMs', options.leaseMs, DEFAULTS.leaseMs, 1000, 3_600_000);
  const heartbeatMs = intOption('heartbeatMs', options.heartbeatMs, Math.floor(leaseMs / 3), 1, leaseMs - 1);
  const fetchImpl = options.fetch ?? nodeFetch;
  if (typeof fetchImpl !== 'function') throw invalid('`fetch` must be a function');
  const retryBaseMs = intOption('retryBaseMs', options.retryBaseMs, DEFAULTS.retryBaseMs, 1);
  const retryMaxMs = intOption('retryMaxMs', options.retryMaxMs, DEFAULTS.retryMaxMs, retryBaseMs);
  if (options.random !== undefined && typeof options.random !== 'function') throw invalid('`random` must be a function');
  return {
    url: url.href.replace(/\/+$/, ''),
    apiKey: options.apiKey,
    leaseMs,
    throttleMs: intOption('throttleMs', options.throttleMs, DEFAULTS.throttleMs, 0),
    heartbeatMs,
    requestTimeoutMs: intOption('requestTimeoutMs', options.requestTimeoutMs, DEFAULTS.requestTimeoutMs, 1),
    backoff: { baseMs: retryBaseMs, maxMs: retryMaxMs },
    maxBatch: intOption('maxBatch', options.maxBatch, DEFAULTS.maxBatch, 1, 1000),
    fetch: fetchImpl,
    logger: options.logger ?? CONSOLE_LOGGER,
    timers: options.timers ?? SYSTEM_TIMERS,
    random: options.random ?? Math.random,
  };
}

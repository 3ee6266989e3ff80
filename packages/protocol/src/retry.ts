/**
 * When to retry a request and how long to wait: one rule for every caller (client, worker,
 * webhooks, CLI). Pure and browser-safe: no zod, no I/O; the random source and the current time
 * are arguments, so tests are deterministic.
 */

/** Backoff bounds. */
export interface BackoffOptions {
  /** First delay ceiling in milliseconds; doubles per attempt. */
  baseMs: number;
  /** Largest delay ceiling in milliseconds. */
  maxMs: number;
}

/**
 * Full-jitter backoff: `random(0, min(maxMs, baseMs · 2^attempt))` (AWS Architecture Blog,
 * "Exponential Backoff And Jitter"). Full jitter spreads a crowd of callers retrying after an
 * outage over the whole window instead of in synchronized waves. `attempt` counts from 0.
 * @param random - a uniform number in [0, 1).
 */
export function fullJitterMs(attempt: number, { baseMs, maxMs }: BackoffOptions, random: () => number = Math.random): number {
  // 2^attempt would overflow to Infinity for huge attempts: the exponent is capped.
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(0, attempt), 30));
  return Math.floor(random() * ceiling);
}

/** The wait before retry number `attempt`: full jitter, but never less than a `Retry-After`. */
export function retryDelayMs(attempt: number, options: BackoffOptions, retryAfterMs: number | null | undefined, random: () => number = Math.random): number {
  return Math.max(fullJitterMs(attempt, options, random), retryAfterMs ?? 0);
}

/** Network errors (no status: `null`), 408, 429 and 5xx are retried; every other status is final. */
export function isRetryableStatus(status: number | null): boolean {
  return status === null || status === 408 || status === 429 || status >= 500;
}

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) into
 * milliseconds from `nowMs`; `null` when absent or unreadable. A date in the past is 0.
 */
export function parseRetryAfterMs(header: string | null | undefined, nowMs: number): number | null {
  if (header === null || header === undefined) return null;
  const value = header.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/**
 * Retry arithmetic: which answers are worth retrying and how long to wait. Pure: the random
 * source and the current time are arguments.
 */

/** Backoff bounds. */
export interface BackoffOptions {
  /** First delay ceiling in milliseconds; doubles per attempt. */
  baseMs: number;
  /** Largest delay ceiling in milliseconds. */
  maxMs: number;
}

/**
 * Full-jitter backoff: `random(0, min(maxMs, baseMs · 2^attempt))` (AWS architecture blog,
 * "Exponential Backoff And Jitter"). `attempt` counts from 0.
 */
export function fullJitterMs(attempt: number, { baseMs, maxMs }: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** The wait before retry number `attempt`: full jitter, but never less than a `Retry-After`. */
export function retryDelayMs(attempt: number, options: BackoffOptions, retryAfterMs: number | null, random: () => number = Math.random): number {
  return Math.max(fullJitterMs(attempt, options, random), retryAfterMs ?? 0);
}

/** Network errors (no status), 408, 429 and 5xx are retried; every other status is final. */
export function isRetryableStatus(status: number | null): boolean {
  return status === null || status === 408 || status === 429 || status >= 500;
}

/**
 * Parses a `Retry-After` header (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) into
 * milliseconds from `nowMs`; `null` when absent or unreadable.
 */
export function parseRetryAfterMs(header: string | null | undefined, nowMs: number): number | null {
  if (header === null || header === undefined) return null;
  const value = header.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Math.round(Number(value) * 1000);
  const at = Date.parse(value);
  if (Number.isNaN(at)) return null;
  return Math.max(0, at - nowMs);
}

/**
 * Reconnect delays with full jitter: `random(0, min(maxMs, baseMs · 2^attempt))`.
 * Full jitter spreads a crowd of clients reconnecting after an outage over the whole window
 * instead of in synchronized waves (AWS Architecture Blog, "Exponential Backoff and Jitter").
 */

/** Backoff parameters. */
export interface BackoffConfig {
  /** Delay scale of the first retry, in milliseconds. */
  baseMs: number;
  /** Upper bound of any delay, in milliseconds. */
  maxMs: number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry).
 * @param random - a uniform number in [0, 1), injected so tests are deterministic.
 */
export function backoffDelayMs(attempt: number, config: BackoffConfig, random: () => number): number {
  // 2^attempt overflows to Infinity for huge attempts; min() keeps that harmless.
  const ceiling = Math.min(config.maxMs, config.baseMs * 2 ** Math.max(0, attempt));
  return Math.floor(random() * ceiling);
}

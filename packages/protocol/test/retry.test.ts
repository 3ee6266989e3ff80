import { describe, expect, it } from 'vitest';
import { fullJitterMs, isRetryableStatus, parseRetryAfterMs, retryDelayMs } from '../src/retry.ts';

const opts = { baseMs: 100, maxMs: 1000 };

describe('retry', () => {
  it('full jitter stays within [0, min(max, base·2^n))', () => {
    expect(fullJitterMs(0, opts, () => 0)).toBe(0);
    expect(fullJitterMs(0, opts, () => 0.999)).toBe(99);
    expect(fullJitterMs(3, opts, () => 0.5)).toBe(400);
    expect(fullJitterMs(10, opts, () => 0.999)).toBe(999);
    expect(fullJitterMs(5000, opts, () => 0.5)).toBe(500); // no overflow to Infinity/NaN
  });

  it('a Retry-After is the minimum wait', () => {
    expect(retryDelayMs(0, opts, 5000, () => 0.5)).toBe(5000);
    expect(retryDelayMs(3, opts, 10, () => 0.5)).toBe(400);
    expect(retryDelayMs(3, opts, null, () => 0.5)).toBe(400);
  });

  it('parses Retry-After as seconds or an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfterMs('3', now)).toBe(3000);
    expect(parseRetryAfterMs('0.5', now)).toBe(500);
    expect(parseRetryAfterMs('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfterMs('Wed, 31 Dec 2025 00:00:10 GMT', now)).toBe(0);
    expect(parseRetryAfterMs('soon', now)).toBeNull();
    expect(parseRetryAfterMs(null, now)).toBeNull();
  });

  it('retries network errors, 408, 429 and 5xx only', () => {
    for (const s of [null, 408, 429, 500, 502, 503, 504]) expect(isRetryableStatus(s)).toBe(true);
    for (const s of [400, 401, 403, 404, 409, 413, 415, 422]) expect(isRetryableStatus(s)).toBe(false);
  });
});

describe('backoff with the client reconnect bounds', () => {
  const config = { baseMs: 1000, maxMs: 30_000 };
  it('is full jitter: between 0 and min(max, base·2^n)', () => {
    expect(fullJitterMs(0, config, () => 0)).toBe(0);
    expect(fullJitterMs(0, config, () => 0.999999)).toBe(999);
    expect(fullJitterMs(3, config, () => 0.5)).toBe(4000);
  });
  it('is capped, even for huge attempt numbers (retried forever)', () => {
    expect(fullJitterMs(10, config, () => 0.999999)).toBe(29_999);
    expect(fullJitterMs(5000, config, () => 0.5)).toBe(15_000);
  });
});

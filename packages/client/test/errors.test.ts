import { describe, expect, it } from 'vitest';
import { CLIENT_ERROR_CODES, TaskPulseClientError } from '../src/errors.ts';
import { resolveOptions } from '../src/options.ts';

describe('errors', () => {
  it('has unique snake_case codes, each with a message', () => {
    const codes = Object.keys(CLIENT_ERROR_CODES);
    expect(new Set(codes).size).toBe(codes.length);
    for (const [code, message] of Object.entries(CLIENT_ERROR_CODES)) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(message.length).toBeGreaterThan(0);
    }
  });

  it('retries network errors, timeouts, 5xx, 408 and 429; other 4xx are final', () => {
    expect(new TaskPulseClientError('network', 'x').retryable).toBe(true);
    expect(new TaskPulseClientError('timeout', 'x').retryable).toBe(true);
    expect(new TaskPulseClientError('unavailable', 'x', { status: 503 }).retryable).toBe(true);
    expect(new TaskPulseClientError('http_408', 'x', { status: 408 }).retryable).toBe(true);
    expect(new TaskPulseClientError('rate_limited', 'x', { status: 429 }).retryable).toBe(true);
    expect(new TaskPulseClientError('not_found', 'x', { status: 404 }).retryable).toBe(false);
    expect(new TaskPulseClientError('forbidden', 'x', { status: 403 }).retryable).toBe(false);
  });
});

describe('options', () => {
  it('rejects bad options by name, never silently', () => {
    expect(() => resolveOptions({ url: 'http://x' })).toThrow(/token/);
    expect(() => resolveOptions({ url: 'http://x', token: 't', heartbeatMs: -3 })).toThrow('`heartbeatMs` must be a whole number of milliseconds from 100 to 60000, got -3');
    expect(() => resolveOptions({ url: 'http://x', token: 't', transport: 'ws' as never })).toThrow(/transport/);
    expect(() => resolveOptions({ url: 1 as never, token: 't' })).toThrow(/url/);
    try {
      resolveOptions({ url: 'http://x', token: '' });
    } catch (e) {
      expect((e as TaskPulseClientError).code).toBe('invalid_options');
    }
  });

  it('fills defaults and strips the trailing slash', () => {
    const c = resolveOptions({ url: 'http://x/', token: 't' });
    expect(c.url).toBe('http://x');
    expect(c.transport).toBe('auto');
    expect(c.multiTab).toBe('taskpulse:http://x');
    expect(resolveOptions({ url: 'http://x', token: 't', metricsIntervalMs: 0 }).metricsIntervalMs).toBe(0);
  });
});

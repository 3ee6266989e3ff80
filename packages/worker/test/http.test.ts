import { afterEach, describe, expect, it, vi } from 'vitest';
import { Http, type FetchLike } from '../src/http.ts';
import { SYSTEM_TIMERS } from '../src/timers.ts';
import { isWorkerError } from '../src/errors.ts';

type Step = { status: number; body?: unknown; headers?: Record<string, string> } | 'network';

function scripted(steps: Step[]) {
  const calls: Array<{ url: string; headers: Record<string, string>; body?: string }> = [];
  const fetch: FetchLike = async (url, init) => {
    calls.push({ url, headers: init.headers, ...(init.body ? { body: init.body } : {}) });
    const step = steps.shift() ?? { status: 200, body: {} };
    if (step === 'network') throw new TypeError('fetch failed');
    const h = new Map(Object.entries(step.headers ?? {}));
    return { status: step.status, headers: { get: (n: string) => h.get(n.toLowerCase()) ?? null }, text: async () => (step.body === undefined ? '' : JSON.stringify(step.body)) };
  };
  return { fetch, calls };
}

const http = (fetch: FetchLike, random = () => 0.5) =>
  new Http({ url: 'http://x.test/', apiKey: 'tpk_1', fetch, timers: SYSTEM_TIMERS, backoff: { baseMs: 100, maxMs: 1000 }, requestTimeoutMs: 5000, random });

afterEach(() => vi.useRealTimers());

describe('Http', () => {
  it('sends JSON with bearer auth and parses the answer', async () => {
    const { fetch, calls } = scripted([{ status: 201, body: { id: 't1' } }]);
    const res = await http(fetch).request('POST', '/v1/tasks', { type: 'a' }, { headers: { 'idempotency-key': 'k1' } });
    expect(res).toEqual({ status: 201, body: { id: 't1' }, attempts: 1 });
    expect(calls[0]).toMatchObject({ url: 'http://x.test/v1/tasks', body: '{"type":"a"}', headers: { authorization: 'Bearer tpk_1', 'content-type': 'application/json', 'idempotency-key': 'k1' } });
  });

  it('waits at least Retry-After before retrying a 429', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, calls } = scripted([{ status: 429, headers: { 'retry-after': '2' }, body: { error: { code: 'rate_limited', message: 'slow down' } } }, { status: 200, body: { ok: 1 } }]);
    const p = http(fetch, () => 0).request('POST', '/v1/progress', {});
    await vi.advanceTimersByTimeAsync(1999);
    expect(calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(2);
    expect((await p).attempts).toBe(2);
  });

  it('backs off with full jitter on 5xx and network errors', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const { fetch, calls } = scripted([{ status: 503 }, 'network', { status: 408 }, { status: 200, body: {} }]);
    const p = http(fetch, () => 0.999).request('GET', '/x', undefined);
    await vi.advanceTimersByTimeAsync(99); // ceiling 100
    expect(calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(199); // ceiling 200
    expect(calls).toHaveLength(3);
    await vi.advanceTimersByTimeAsync(399); // ceiling 400
    expect(calls).toHaveLength(4);
    expect((await p).attempts).toBe(4);
  });

  it('does not retry other 4xx; maps lease_lost and task_finished to their own codes', async () => {
    for (const [status, code, expected] of [[400, 'invalid_request', 'http_error'], [409, 'lease_lost', 'lease_lost'], [409, 'task_finished', 'task_finished'], [401, 'unauthorized', 'http_error']] as const) {
      const { fetch, calls } = scripted([{ status, body: { error: { code, message: 'no' } } }]);
      const error = await http(fetch).request('POST', '/y', {}).catch((e) => e);
      expect(calls).toHaveLength(1);
      expect(isWorkerError(error, expected)).toBe(true);
      expect(error).toMatchObject({ status, serverCode: code });
    }
  });

  it('gives up with retries_exhausted once retryUntil has passed', async () => {
    const { fetch } = scripted([{ status: 503 }, { status: 503 }]);
    const error = await http(fetch).request('POST', '/y', {}, { retryUntil: Date.now() - 1 }).catch((e) => e);
    expect(isWorkerError(error, 'retries_exhausted')).toBe(true);
    expect(error.cause).toMatchObject({ status: 503 });
  });

  it('an abort stops the wait between retries', async () => {
    const { fetch, calls } = scripted([{ status: 503 }]);
    const controller = new AbortController();
    const p = http(fetch, () => 0.999).request('POST', '/y', {}, { signal: controller.signal }).catch((e) => e);
    controller.abort();
    expect(isWorkerError(await p, 'aborted')).toBe(true);
    expect(calls).toHaveLength(1);
  });
});

import { describe, expect, it } from 'vitest';
import {
  ERROR_CODES, ERROR_STATUS, TaskPulseError, computePercent, monotonicPercent, childrenPercent, CreateTaskRequest, ProgressRequest,
  checkJson, EventsQuery,
} from '../src/index.ts';

describe('errors', () => {
  it('has unique snake_case codes, each with a 4xx/5xx status', () => {
    expect(new Set(ERROR_CODES).size).toBe(ERROR_CODES.length);
    for (const code of ERROR_CODES) {
      expect(code).toMatch(/^[a-z]+(_[a-z]+)*$/);
      expect(ERROR_STATUS[code]).toBeGreaterThanOrEqual(400);
    }
  });

  it('covers every code API.md names', () => {
    for (const code of ['invalid_request', 'unauthorized', 'forbidden', 'not_found', 'conflict', 'lease_lost', 'task_finished', 'payload_too_large', 'rate_limited', 'unavailable']) {
      expect(ERROR_CODES).toContain(code);
    }
  });

  it('renders the wire body with details', () => {
    const e = new TaskPulseError('lease_lost', 'gone', { taskId: 't' });
    expect(e.status).toBe(409);
    expect(e.toBody()).toEqual({ error: { code: 'lease_lost', message: 'gone', details: { taskId: 't' } } });
  });
});

describe('percent', () => {
  it('is done/total without stages, null when unknown', () => {
    expect(computePercent({ weights: [], stageIndex: -1, done: 1, total: 4 })).toBe(25);
    expect(computePercent({ weights: [], stageIndex: -1, done: null, total: null })).toBeNull();
    expect(computePercent({ weights: [], stageIndex: -1, done: 5, total: 4 })).toBe(100);
  });

  it('combines stage weights with the current stage fraction', () => {
    // stages 1,3: stage 0 half done → 0.5/4; stage 1 a third done → (1 + 1)/4
    expect(computePercent({ weights: [1, 3], stageIndex: 0, done: 1, total: 2 })).toBe(12.5);
    expect(computePercent({ weights: [1, 3], stageIndex: 1, done: 1, total: 3 })).toBe(50);
    expect(computePercent({ weights: [1, 3], stageIndex: 1, done: null, total: null })).toBe(25);
  });

  it('never goes backwards within an attempt', () => {
    expect(monotonicPercent(50, 40)).toBe(50);
    expect(monotonicPercent(50, null)).toBe(50);
    expect(monotonicPercent(null, 10)).toBe(10);
  });

  it('derives a parent percent from finished children', () => {
    expect(childrenPercent({ total: 4, completed: 1, failed: 1, canceled: 0 })).toBe(50);
    expect(childrenPercent({ total: 0, completed: 0, failed: 0, canceled: 0 })).toBeNull();
  });
});

describe('schemas', () => {
  it('rejects hostile values', () => {
    expect(CreateTaskRequest.safeParse({ type: 'a\u0000', owner: 'o' }).success).toBe(false);
    expect(CreateTaskRequest.safeParse({ type: 'a', owner: 'o', metadata: [] }).success).toBe(false);
    expect(ProgressRequest.safeParse({ lease: 'l', done: Infinity }).success).toBe(false);
    expect(ProgressRequest.safeParse({ lease: 'l', done: Number.NaN }).success).toBe(false);
    expect(ProgressRequest.safeParse({ lease: 'l', total: 0 }).success).toBe(false);
    expect(EventsQuery.safeParse({ events: 'task.created,nope' }).success).toBe(false);
    expect(EventsQuery.safeParse({ after: '12', events: 'task.created,task.log' }).data).toMatchObject({ after: 12 });
  });

  it('checks JSON size, depth, NUL and finiteness', () => {
    expect(checkJson({ a: 'x' }, 100)).toBeNull();
    expect(checkJson({ a: 'x'.repeat(200) }, 100)).toMatch(/at most 100 bytes/);
    expect(checkJson({ a: 'x\u0000' }, 100)).toMatch(/NUL/);
    expect(checkJson({ ['k\u0000']: 1 }, 100)).toMatch(/NUL/);
    expect(checkJson({ a: Infinity }, 100)).toMatch(/finite/);
    expect(checkJson(JSON.parse('['.repeat(40) + ']'.repeat(40)), 1000)).toMatch(/nested/);
  });
});

import { QueryClient } from '@tanstack/query-core';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createQueryInvalidator, EVENT_TYPES, hashKey, invalidationsFor, matchesRule, validateRules } from '../src/query/invalidation.ts';
import { event } from './support.ts';

describe('invalidation rules (pure)', () => {
  it('by default match task creation and the terminal events, not progress', () => {
    const rule = { queryKey: ['tasks'] };
    const matched = EVENT_TYPES.filter((type) => matchesRule(rule, event(type)));
    expect(matched).toEqual(['task.created', 'task.completed', 'task.failed', 'task.canceled']);
    expect(matchesRule({ ...rule, events: 'all' }, event('task.updated'))).toBe(true);
    expect(matchesRule({ ...rule, events: ['task.updated'] }, event('task.completed'))).toBe(false);
  });

  it('filter by task type, tag, task id and a predicate; notification events have no task', () => {
    const e = event('task.completed', { id: 'tsk_9', type: 'ai-search', tags: ['project:7'] });
    expect(matchesRule({ queryKey: ['x'], taskType: 'ai-search' }, e)).toBe(true);
    expect(matchesRule({ queryKey: ['x'], taskType: ['pdf', 'ai-search'] }, e)).toBe(true);
    expect(matchesRule({ queryKey: ['x'], taskType: 'pdf' }, e)).toBe(false);
    expect(matchesRule({ queryKey: ['x'], tag: 'project:7' }, e)).toBe(true);
    expect(matchesRule({ queryKey: ['x'], tag: 'project:8' }, e)).toBe(false);
    expect(matchesRule({ queryKey: ['x'], taskId: 'tsk_9' }, e)).toBe(true);
    expect(matchesRule({ queryKey: ['x'], taskId: 'tsk_1' }, e)).toBe(false);
    expect(matchesRule({ queryKey: ['x'], when: (ev) => ev.task?.result === null }, e)).toBe(true);
    const n = { seq: 11, type: 'notification.created' as const, at: e.at, taskId: 'tsk_9' };
    expect(matchesRule({ queryKey: ['x'], events: ['notification.created'] }, n)).toBe(true);
    expect(matchesRule({ queryKey: ['x'], events: ['notification.created'], taskType: 'ai-search' }, n)).toBe(false);
  });

  it('keys: static or computed from the event, null skips, duplicates collapse', () => {
    const e = event('task.completed', { metadata: { projectId: 7 } });
    const found = invalidationsFor(
      [
        { queryKey: ['tasks'] },
        { queryKey: ['tasks'] },
        { queryKey: (ev) => ['project', ev.task?.metadata.projectId] },
        { queryKey: () => null },
        { queryKey: ['tasks'], exact: true },
      ],
      e,
    );
    expect(found).toEqual([
      { queryKey: ['tasks'], exact: false },
      { queryKey: ['project', 7], exact: false },
      { queryKey: ['tasks'], exact: true },
    ]);
  });

  it('hashKey ignores object key order', () => {
    expect(hashKey(['a', { x: 1, y: 2 }])).toBe(hashKey(['a', { y: 2, x: 1 }]));
    expect(hashKey(['a', 1])).not.toBe(hashKey(['a', '1']));
  });

  it('bad rules are refused, naming the field', () => {
    expect(() => validateRules([{ queryKey: 'tasks' as never }])).toThrow(/`rules\[0\]\.queryKey` must be an array or a function/);
    expect(() => validateRules([{ queryKey: ['a'] }, { queryKey: ['b'], events: ['task.done' as never] }])).toThrow(/`rules\[1\]\.events` has an unknown event type "task\.done"/);
    expect(() => validateRules([{ queryKey: ['a'], when: 1 as never }])).toThrow(/`rules\[0\]\.when` must be a function/);
    expect(() => createQueryInvalidator({} as never, [])).toThrow(/invalidateQueries/);
    expect(() => createQueryInvalidator(new QueryClient(), [], { delayMs: -5 })).toThrow(/`delayMs` must be a non-negative number/);
  });
});

describe('createQueryInvalidator with a real QueryClient', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function seeded() {
    const qc = new QueryClient();
    for (const key of [['tasks', 'page', 1], ['tasks'], ['shots', 7], ['task-status-counts', 7], ['unrelated']]) qc.setQueryData(key, 'data');
    const spy = vi.spyOn(qc, 'invalidateQueries');
    const stale = () => qc.getQueryCache().getAll().filter((q) => q.state.isInvalidated).map((q) => q.queryKey);
    return { qc, spy, stale };
  }

  it('invalidates every key the prefix covers (seed 001 families), and nothing else', async () => {
    const { qc, stale } = seeded();
    const inv = createQueryInvalidator(qc, [{ queryKey: ['tasks'] }, { queryKey: ['shots'] }]);
    inv.handle(event('task.completed'));
    expect(stale()).toEqual([]); // gathered first
    await vi.advanceTimersByTimeAsync(100);
    expect(stale()).toEqual([['tasks', 'page', 1], ['tasks'], ['shots', 7]]);
  });

  it('exact: only that key', async () => {
    const { qc, stale } = seeded();
    createQueryInvalidator(qc, [{ queryKey: ['tasks'], exact: true }]).handle(event('task.created'));
    await vi.advanceTimersByTimeAsync(100);
    expect(stale()).toEqual([['tasks']]);
  });

  it('a burst of events costs one invalidation per key', async () => {
    const { qc, spy } = seeded();
    const inv = createQueryInvalidator(qc, [{ queryKey: ['tasks'], events: 'all' }, { queryKey: (e) => ['task-status-counts', e.task?.metadata.p], events: ['task.updated'] }]);
    for (let i = 0; i < 50; i++) inv.handle(event('task.updated', { metadata: { p: 7 } }, 100 + i));
    await vi.advanceTimersByTimeAsync(100);
    expect(spy.mock.calls.map((c) => c[0])).toEqual([
      { queryKey: ['tasks'], exact: false },
      { queryKey: ['task-status-counts', 7], exact: false },
    ]);
    inv.handle(event('task.updated', { metadata: { p: 7 } }, 200)); // a later event: a new round
    await vi.advanceTimersByTimeAsync(100);
    expect(spy).toHaveBeenCalledTimes(4);
  });

  it('rules given as a function are read at each event', async () => {
    const { qc, stale } = seeded();
    let rules = [{ queryKey: ['shots'] }];
    const inv = createQueryInvalidator(qc, () => rules);
    rules = [{ queryKey: ['unrelated'] }];
    inv.handle(event('task.completed'));
    inv.flush();
    expect(stale()).toEqual([['unrelated']]);
  });

  it('close() invalidates what is pending, then ignores events; errors go to onError', async () => {
    const { qc, spy } = seeded();
    const errors: unknown[] = [];
    const inv = createQueryInvalidator(qc, [{ queryKey: ['tasks'] }, { queryKey: () => { throw new Error('bad rule'); }, taskType: 'boom' }], { onError: (e) => errors.push(e) });
    inv.handle(event('task.completed'));
    inv.close();
    inv.close();
    expect(spy).toHaveBeenCalledTimes(1);
    inv.handle(event('task.completed'));
    await vi.advanceTimersByTimeAsync(1000);
    expect(spy).toHaveBeenCalledTimes(1);

    const failing = createQueryInvalidator({ invalidateQueries: () => Promise.reject(new Error('refetch failed')) }, [{ queryKey: ['a'] }], { onError: (e) => errors.push(e) });
    failing.handle(event('task.completed'));
    failing.flush();
    createQueryInvalidator(qc, [{ queryKey: ['a'] }, { queryKey: () => { throw new Error('bad rule'); } }], { onError: (e) => errors.push(e) }).handle(event('task.failed'));
    await vi.advanceTimersByTimeAsync(0);
    expect(errors.map((e) => (e as Error).message).sort()).toEqual(['bad rule', 'refetch failed']);
  });
});

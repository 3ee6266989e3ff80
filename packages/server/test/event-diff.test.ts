import { describe, expect, it } from 'vitest';
import { MAX_DIFF_CHARS, compactEvent, deltaOf, diffFields, mergeTaskEvent, splitTaskEvent, type TaskVersion } from '../src/store/event-diff.ts';

const task = (over: Record<string, unknown> = {}) => ({
  id: 'tsk_1', type: 'import', owner: 'u"1', tags: ['a'], progress: { done: 1, total: 10, percent: 10 }, message: 'p1',
  input: { big: 'x'.repeat(5000) }, result: null, metadata: { k: 'ü\n' }, maybe: undefined, seq: 5, ...over,
});

describe('compact task events', () => {
  it('serializes field by field exactly as JSON.stringify does', () => {
    const t = task();
    const s = splitTaskEvent(5, 'task.updated', '2026-01-01T00:00:00.000Z', 'tsk_1', t);
    expect(s.json).toBe(JSON.stringify({ seq: 5, type: 'task.updated', at: '2026-01-01T00:00:00.000Z', taskId: 'tsk_1', task: t }));
    expect(s.taskJson).toBe(JSON.stringify(t));
    expect(s.fields.keys).not.toContain('maybe');
  });

  it('stays exact event after event of one task, whatever its fields become (the per-task memo of pieces)', () => {
    const shared = { k: 1 };
    const steps: Record<string, unknown>[] = [
      task(),
      task({ message: 'p2', seq: 6 }),
      task({ message: { now: 'an object' }, seq: 7 }), // a primitive field becomes an object…
      task({ message: 'p2', seq: 8 }), // …and a primitive again
      task({ message: null, maybe: 'set', seq: 9 }),
      { seq: 10, id: 'tsk_1', message: 'p2', type: 'import' }, // other keys, another order
      task({ progress: shared, seq: 11 }),
      task({ progress: shared, seq: 12, percent: NaN, zero: -0 }),
      task({ progress: shared, seq: 13 }),
    ];
    steps.forEach((t, i) => {
      shared.k = i; // an object changed in place between two events is serialized again
      const at = `2026-01-01T00:00:0${i}.000Z`;
      const s = splitTaskEvent(i, 'task.updated', at, 'tsk_1', t);
      expect(s.json).toBe(JSON.stringify({ seq: i, type: 'task.updated', at, taskId: 'tsk_1', task: t }));
      expect(s.taskJson).toBe(JSON.stringify(t));
      expect(s.fields.atMs).toBe(Date.parse(at));
    });
    // A finished task's memo is dropped; the next event of that id starts afresh and is still exact.
    splitTaskEvent(20, 'task.completed', 'z', 'tsk_1', task());
    expect(splitTaskEvent(21, 'task.updated', 'z', 'tsk_1', task({ message: 'again' })).taskJson).toBe(JSON.stringify(task({ message: 'again' })));
  });

  it('serializes small flat objects (progress, eta, stage) exactly, odd values and all', () => {
    const odd = [
      { done: 1, total: 1e21, percent: 12.345 },
      { remainingMs: NaN, lowMs: Infinity, highMs: -Infinity, at: '2026-\u2028"\\\n', basis: 'rate', gone: undefined, yes: true, no: false, zero: -0, n: null },
      { 'a"b': 1, 2: 'two', 1: 'one', '\u0000': 0 }, // keys that need escaping; integer-like keys come first
      { nested: { x: 1 } },
      { list: [1] },
      new Date(0), // toJSON
      Object.assign(Object.create(null), { bare: 1 }),
      {},
    ];
    for (const value of odd) {
      const t = task({ progress: value, eta: value, stage: value });
      expect(splitTaskEvent(1, 'task.updated', 'a', 'tsk_2', t).taskJson).toBe(JSON.stringify(t));
    }
  });

  it('gives each appended event its time in ms, task events and others alike', () => {
    const versions = new Map<string, TaskVersion>();
    const ev = (at: string, taskId: string | null, body: Record<string, unknown>) => ({
      type: 'task.updated' as const, at, owner: 'u', taskId, taskType: 'import', parentId: null, tags: [], milestone: false, body: () => body,
    });
    for (const at of ['2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', '2026-03-04T05:06:07.089Z', 'not a time']) {
      expect(compactEvent(1, ev(at, 'tsk_3', { task: task() }), versions).atMs).toEqual(Date.parse(at)); // a version, then diffs
      expect(compactEvent(2, ev(at, 'tsk_3', { task: task({ seq: 2 }) }), versions).atMs).toEqual(Date.parse(at));
      expect(compactEvent(3, ev(at, null, { read: { ids: [] } }), versions).atMs).toEqual(Date.parse(at));
    }
  });

  it('stores a progress event as its changed fields, and merging them back gives the same event', () => {
    const base = splitTaskEvent(5, 'task.updated', 'a', 'tsk_1', task());
    const next = task({ progress: { done: 2, total: 10, percent: 20 }, message: 'p2', seq: 6 });
    const split = splitTaskEvent(6, 'task.updated', 'b', 'tsk_1', next);
    const diff = diffFields(base.fields, split.fields)!;
    expect(JSON.parse(diff)).toEqual({ progress: { done: 2, total: 10, percent: 20 }, message: 'p2' }); // seq is the event's own
    expect(diff.length).toBeLessThan(100); // the 5 KB input is not repeated
    expect(mergeTaskEvent(6, 'task.updated', 'b', 'tsk_1', base.taskJson, diff)).toBe(split.json);
  });

  it('asks for a new version when a field went away or the diff is too long', () => {
    const base = splitTaskEvent(5, 'task.updated', 'a', 'tsk_1', task());
    const { message: _gone, ...without } = task();
    expect(diffFields(base.fields, splitTaskEvent(6, 'task.updated', 'a', 'tsk_1', without).fields)).toBeNull();
    const long = task({ metadata: { note: 'y'.repeat(MAX_DIFF_CHARS) } });
    expect(diffFields(base.fields, splitTaskEvent(6, 'task.updated', 'a', 'tsk_1', long).fields)).toBeNull();
  });

  it('handles a field that appears later', () => {
    const base = splitTaskEvent(5, 'task.updated', 'a', 'tsk_1', task());
    const next = splitTaskEvent(6, 'task.updated', 'a', 'tsk_1', task({ maybe: 3 }));
    const diff = diffFields(base.fields, next.fields)!;
    expect(JSON.parse(mergeTaskEvent(6, 'task.updated', 'a', 'tsk_1', base.taskJson, diff))).toEqual(JSON.parse(next.json));
  });

  it('names the fields whose new value is the event\u2019s own time instead of repeating it, and merges them back in place', () => {
    const t0 = '2026-01-01T00:00:00.000Z';
    const t1 = '2026-01-01T00:00:01.000Z';
    const base = splitTaskEvent(5, 'task.updated', t0, 'tsk_1', task({ updatedAt: t0, heartbeatAt: t0 }));
    const next = splitTaskEvent(6, 'task.updated', t1, 'tsk_1', task({ updatedAt: t1, heartbeatAt: t1, message: 'p2', seq: 6 }));
    const diff = diffFields(base.fields, next.fields)!;
    expect(JSON.parse(diff)).toEqual({ message: 'p2', '': ['updatedAt', 'heartbeatAt'] });
    expect(mergeTaskEvent(6, 'task.updated', t1, 'tsk_1', base.taskJson, diff)).toBe(next.json);
  });

  describe('delta from the previous event (delta=true streams)', () => {
    const whole = (prev: Record<string, unknown>, delta: { task: Record<string, unknown> }) => ({ ...prev, ...delta.task });

    it('carries id, seq and the changed fields, with base the previous seq; merged, it is the whole task', () => {
      const first = task({ id: 'tsk_d1', seq: 5 });
      expect(splitTaskEvent(5, 'task.updated', 'a', 'tsk_d1', first).delta).toBeUndefined(); // no previous event
      let prev: Record<string, unknown> = first;
      const steps = [
        task({ id: 'tsk_d1', seq: 6, progress: { done: 2, total: 10, percent: 20 } }),
        task({ id: 'tsk_d1', seq: 7, progress: { done: 2, total: 10, percent: 20 }, message: null }),
        task({ id: 'tsk_d1', seq: 9, progress: { done: 3, total: 10, percent: 30 }, message: null, metadata: { k: 2 } }),
      ];
      for (const t of steps) {
        const s = splitTaskEvent(t.seq, 'task.updated', 'b', 'tsk_d1', t);
        const d = JSON.parse(s.delta!.json);
        expect(s.delta!.base).toBe(prev.seq);
        expect(d).toMatchObject({ seq: t.seq, type: 'task.updated', at: 'b', taskId: 'tsk_d1', base: prev.seq });
        expect(d.task.input).toBeUndefined(); // the 5 KB input is not sent again
        expect(Object.keys(d.task).sort()).toEqual(['id', ...Object.keys(t).filter((k) => JSON.stringify(t[k as keyof typeof t]) !== JSON.stringify(prev[k]))].sort());
        expect(whole(JSON.parse(JSON.stringify(prev)), d)).toEqual(JSON.parse(s.taskJson));
        prev = t;
      }
    });

    it('is whole when a field comes or goes, for other event types, and after a finished task', () => {
      splitTaskEvent(1, 'task.created', 'a', 'tsk_d2', task({ seq: 1 }));
      expect(splitTaskEvent(2, 'task.updated', 'a', 'tsk_d2', task({ seq: 2 })).delta?.base).toBe(1);
      expect(splitTaskEvent(3, 'task.updated', 'a', 'tsk_d2', task({ seq: 3, extra: 1 })).delta).toBeUndefined(); // a field came
      expect(splitTaskEvent(4, 'task.updated', 'a', 'tsk_d2', task({ seq: 4 })).delta).toBeUndefined(); // and went
      expect(splitTaskEvent(5, 'task.updated', 'a', 'tsk_d2', task({ seq: 5, message: undefined })).delta).toBeUndefined(); // went (undefined)
      // Back again: a reader holding seq 5 (no message) gets it added.
      expect(JSON.parse(splitTaskEvent(6, 'task.updated', 'a', 'tsk_d2', task({ seq: 6 })).delta!.json).task).toEqual({ id: 'tsk_d2', message: 'p1', seq: 6 });
      expect(splitTaskEvent(7, 'task.updated', 'a', 'tsk_d2', task({ seq: 7 })).delta?.base).toBe(6);
      expect(splitTaskEvent(8, 'task.completed', 'a', 'tsk_d2', task({ seq: 8 })).delta).toBeUndefined();
      expect(splitTaskEvent(9, 'task.updated', 'a', 'tsk_d2', task({ seq: 9 })).delta).toBeUndefined(); // memo dropped with the finished task
    });

    it('rides on the stored event, out of its enumerable fields', () => {
      const versions = new Map<string, TaskVersion>();
      const ev = (seq: number, t: Record<string, unknown>) => ({
        type: 'task.updated' as const, at: '2026-01-01T00:00:00.000Z', owner: 'o', taskId: 'tsk_d3', taskType: 'x', parentId: null, tags: [], milestone: false, body: () => ({ task: t }),
      });
      compactEvent(1, ev(1, task({ seq: 1 })), versions);
      const c = compactEvent(2, ev(2, task({ seq: 2, message: 'x' })), versions);
      expect(deltaOf(c.stored)?.base).toBe(1);
      expect(Object.keys(c.stored)).not.toContain('delta');
      expect(JSON.parse(JSON.stringify(c.stored)).json).toBe(c.stored.json);
    });
  });
});


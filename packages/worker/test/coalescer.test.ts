import { describe, expect, it } from 'vitest';
import { Coalescer } from '../src/coalescer.ts';

describe('Coalescer', () => {
  it('latest progress wins and the first report goes out at once', () => {
    const c = new Coalescer(1000);
    c.add('a');
    for (let i = 1; i <= 10_000; i++) c.progress('a', { done: i, total: 10_000, message: `item ${i}` });
    expect(c.nextDueAt(0)).toBe(0);
    expect(c.take(0, 100)).toEqual([{ taskId: 'a', patch: { done: 10_000, total: 10_000, message: 'item 10000' } }]);
    expect(c.stats()).toEqual({ calls: 10_000, taken: 1 });
  });

  it('sends at most once per throttleMs per task, one request in flight', () => {
    const c = new Coalescer(1000);
    c.add('a');
    c.progress('a', { done: 1 });
    expect(c.take(0, 100)).toHaveLength(1);
    c.progress('a', { done: 2 });
    expect(c.nextDueAt(10)).toBeNull(); // in flight
    c.settle('a');
    expect(c.nextDueAt(10)).toBe(1000);
    expect(c.take(999, 100)).toEqual([]);
    c.progress('a', { done: 3 });
    expect(c.take(1000, 100)).toEqual([{ taskId: 'a', patch: { done: 3 } }]);
  });

  it('a stage change is urgent and follows the previous stage progress in order', () => {
    const c = new Coalescer(1000);
    c.add('a');
    c.progress('a', { done: 1, total: 2 });
    c.take(0, 100);
    c.settle('a');
    c.progress('a', { done: 2, total: 2 });
    c.stage('a', 'parse');
    c.progress('a', { done: 1, total: 10 });
    c.progress('a', { done: 5, total: 10 });
    expect(c.nextDueAt(5)).toBe(5);
    expect(c.take(5, 100).map((t) => t.patch)).toEqual([{ done: 2, total: 2 }, { stage: 'parse', done: 5, total: 10 }]);
  });

  it('never drops a log line, keeps them in order', () => {
    const c = new Coalescer(1000);
    c.add('a');
    c.log('a', 'info', 'one');
    c.progress('a', { done: 1 });
    c.log('a', 'warn', 'two');
    c.log('a', 'error', 'three');
    const patches = c.take(0, 100).map((t) => t.patch);
    expect(patches.map((p) => p.log?.message)).toEqual(['one', 'two', 'three']);
    expect(patches[0]).toEqual({ log: { level: 'info', message: 'one' }, done: 1 });
  });

  it('urge() makes pending reports due now (final flush)', () => {
    const c = new Coalescer(1000);
    c.add('a');
    c.progress('a', { done: 1 });
    c.take(0, 10);
    c.settle('a');
    c.progress('a', { done: 2 });
    expect(c.nextDueAt(1)).toBe(1000);
    c.urge('a');
    expect(c.nextDueAt(1)).toBe(1);
    expect(c.busy('a')).toBe(true);
    c.take(1, 10);
    c.settle('a');
    expect(c.busy('a')).toBe(false);
  });

  it('respects the batch limit and resumes the rest at once', () => {
    const c = new Coalescer(1000);
    for (const id of ['a', 'b', 'c']) {
      c.add(id);
      c.progress(id, { done: 1 });
    }
    expect(c.take(0, 2).map((t) => t.taskId)).toEqual(['a', 'b']);
    expect(c.take(0, 2).map((t) => t.taskId)).toEqual(['c']);
  });

  it('ignores unknown or removed tasks', () => {
    const c = new Coalescer(10);
    c.progress('x', { done: 1 });
    c.add('a');
    c.progress('a', { done: 1 });
    c.remove('a');
    expect(c.nextDueAt(0)).toBeNull();
    expect(c.busy('a')).toBe(false);
  });
});

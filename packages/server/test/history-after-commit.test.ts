/**
 * The in-memory ETA history (stage durations, report gaps) learns from a unit of work only once
 * the unit committed (tasks/changes.ts): a unit that is rolled back must leave it as it was.
 * Real task service on a real SQLite store (in memory); the unit is made to fail after it recorded
 * its stage runs, as a storage fault at that point would.
 */
import { describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import type { Store, WriteTx } from '../src/store/store.ts';
import { HistoryCache } from '../src/eta/history.ts';
import { DEFAULT_HEALTH } from '../src/eta/eta.ts';
import { composeTasks } from '../src/tasks/compose.ts';

const ADMIN = { role: 'admin' as const, keyId: null };
const STAGES = [{ key: 'fetch' }, { key: 'parse' }];

/** The store, whose units fail at their ETA scoring (after the stage runs) while `failing` is set. */
function faultyStore(inner: SqliteStore): { store: Store; fail(on: boolean): void } {
  let failing = false;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      if (prop !== 'write') {
        const v = Reflect.get(target, prop, target);
        return typeof v === 'function' ? v.bind(target) : v;
      }
      return (fn: (tx: WriteTx) => unknown, options?: unknown) =>
        target.write((tx) => {
          if (!failing) return fn(tx);
          const broken: WriteTx = { ...tx, recordEtaChecks: () => { throw new Error('disk I/O error'); } };
          return fn(broken);
        }, options as never);
    },
  }) as unknown as Store;
  return { store, fail: (on) => (failing = on) };
}

describe('ETA history after commit', () => {
  it('a unit that is rolled back does not change the history', async () => {
    let now = Date.parse('2026-01-01T00:00:00Z');
    const inner = new SqliteStore({ file: ':memory:' });
    const { store, fail } = faultyStore(inner);
    const history = new HistoryCache(store, { now: () => now });
    const { service } = composeTasks({ store, history, now: () => now, leaseMs: 3_600_000, health: DEFAULT_HEALTH, waitForEvent: async () => {} });
    await history.load('pdf');
    const run = async () => {
      const { task, lease } = await service.create(ADMIN, { type: 'pdf', owner: 'u', start: true, stages: STAGES }, null);
      now += 1000;
      await service.progress(task.id, { lease: lease!.token, stage: 'parse', done: 0, total: 10 });
      for (let i = 1; i <= 10; i++) {
        now += 100;
        await service.progress(task.id, { lease: lease!.token, done: i });
      }
      return { id: task.id, lease: lease!.token };
    };
    // One committed run: the history knows it.
    const first = await run();
    await service.complete(first.id, first.lease, null);
    expect(history.get('pdf').get('parse')?.count).toBe(1);

    // A second run whose completion (stage runs of `parse` and of the whole task) is rolled back.
    const second = await run();
    now += 5000; // a far longer parse: it would move the median if it were learnt
    const before = structuredClone([...history.get('pdf')]);
    const gapBefore = history.gaps.usual('pdf', 'parse');
    const runsBefore = (await inner.history.stageRuns('pdf', 100)).length;
    fail(true);
    await expect(service.complete(second.id, second.lease, null)).rejects.toThrow();
    fail(false);
    expect(await inner.history.stageRuns('pdf', 100)).toHaveLength(runsBefore); // rolled back in the store…
    expect([...history.get('pdf')]).toEqual(before); // …and not learnt
    expect(history.gaps.usual('pdf', 'parse')).toBe(gapBefore);

    // Committed, the same completion is learnt.
    await service.complete(second.id, second.lease, null);
    expect(history.get('pdf').get('parse')?.count).toBe(2);
    await inner.close();
  });
});

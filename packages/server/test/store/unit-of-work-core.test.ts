/**
 * The engine-neutral unit of work (store/unit-of-work.ts) against a recording port: what it asks
 * an engine to do, and when — savepoints lazily or eagerly, one flush and one insert per batch,
 * the head recorded once, a lost transaction failing the whole batch, a bare `pure` unit that
 * failed after changing something making the batch run again with savepoints.
 */
import { describe, expect, it } from 'vitest';
import { toStored } from '../../src/store/records.ts';
import type { StoredEvent, TaskRecord, WriteTx } from '../../src/store/store.ts';
import { UnitOfWork, type UnitOfWorkOptions, type UnitOfWorkPort } from '../../src/store/unit-of-work.ts';
import { event, task } from './engines.ts';

/** A port that records its calls; `lose` makes `lost` report a lost transaction. */
function recordingPort(head = 0) {
  const calls: string[] = [];
  const state = { lose: null as unknown };
  const port: UnitOfWorkPort = {
    begin: () => (calls.push('begin'), head),
    savepoint: () => void calls.push('savepoint'),
    release: () => void calls.push('release'),
    rollbackToSavepoint: () => void calls.push('rollbackToSavepoint'),
    lost: () => state.lose,
    flushRows: (rows) => void calls.push(`flushRows ${rows.map((t) => `${t.id}:${t.message}`).join(',')}`),
    insertEvents: (events) => void calls.push(`insertEvents ${events.map((e) => e.seq).join(',')}`),
    setHead: (h) => void calls.push(`setHead ${h}`),
    commit: () => void calls.push('commit'),
    rollback: () => void calls.push('rollback'),
    end: () => void calls.push('end'),
  };
  return { port, calls, state };
}

/** A WriteTx over the unit of work alone (no statements): enough to drive it. */
function txOver(uow: UnitOfWork, stored: Map<string, TaskRecord>): WriteTx {
  const none = () => {
    throw new Error('not in this test');
  };
  return {
    getTask: (id) => uow.tasks.get(id) ?? stored.get(id) ?? null,
    insertTask: async (t) => {
      await uow.beforeChange();
      uow.remember(t);
    },
    updateTask: (t) => uow.update(t),
    appendEvent: (e) => uow.append((seq) => toStored(seq, e)),
    insertLog: () => uow.beforeChange(),
    findIdempotent: none, nextQueued: none, expiredLeases: none, queuePosition: none, insertNotification: none,
    markNotificationsRead: none, recordStageRun: none, recordEtaChecks: none,
  };
}

function setup(options: UnitOfWorkOptions, head = 0) {
  const { port, calls, state } = recordingPort(head);
  const uow = new UnitOfWork(port, options);
  const stored = new Map([['a', task('a')], ['b', task('b')]]);
  uow.use(txOver(uow, stored));
  const committed: StoredEvent[] = [];
  uow.onCommit((events) => committed.push(...events));
  const bump = (id: string, message: string, fail = false, pure = false) =>
    uow.write(async (tx) => {
      const t = { ...(await tx.getTask(id))!, message };
      const ev = await tx.appendEvent(event(t));
      await tx.updateTask(t);
      if (fail) throw new Error(`${message} failed`);
      return ev.seq;
    }, { pure });
  return { uow, calls, state, committed, bump };
}

describe('unit of work (engine-neutral)', () => {
  it('lazy savepoints: none for a unit that changes only memory, one before a statement; one flush, insert and head per batch', async () => {
    const { calls, committed, bump, uow } = setup({ savepoints: 'lazy', pureWithoutSavepoint: false, keepTasks: 0 }, 10);
    const logged = uow.write(async (tx) => {
      await tx.insertLog('a', 1, 'x', 'info', 'm');
      throw new Error('undo the log line');
    });
    const results = await Promise.allSettled([bump('a', 'one'), logged, bump('b', 'two'), bump('a', 'three', true)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([11, 'undo the log line', 12, 'three failed']);
    expect(calls).toEqual([
      'begin',
      'savepoint', 'rollbackToSavepoint', // the log line's unit: a statement, undone
      'flushRows a:one,b:two', // the failed unit's change to `a` undone: `one` is written
      'insertEvents 11,12',
      'setHead 12',
      'commit',
      'end',
    ]);
    expect(committed.map((e) => e.seq)).toEqual([11, 12]);
    expect(uow.head).toBe(12);
  });

  it('eager savepoints: one per unit, released or rolled back', async () => {
    const { calls, bump } = setup({ savepoints: 'eager', pureWithoutSavepoint: false, keepTasks: 100 });
    await Promise.allSettled([bump('a', 'one'), bump('b', 'two', true)]);
    expect(calls).toEqual(['begin', 'savepoint', 'release', 'savepoint', 'rollbackToSavepoint', 'flushRows a:one', 'insertEvents 1', 'setHead 1', 'commit', 'end']);
  });

  it('a bare `pure` unit that fails after changing something makes the batch run again with savepoints', async () => {
    const { calls, committed, bump } = setup({ savepoints: 'eager', pureWithoutSavepoint: true, keepTasks: 100 });
    const results = await Promise.allSettled([bump('a', 'one', false, true), bump('b', 'two', true, true), bump('b', 'three', false, true)]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message))).toEqual([1, 'two failed', 2]);
    expect(calls).toEqual([
      'begin', 'rollback', 'end', // the first run: no savepoints, undone whole
      'begin', 'savepoint', 'release', 'savepoint', 'rollbackToSavepoint', 'savepoint', 'release',
      'flushRows a:one,b:three', 'insertEvents 1,2', 'setHead 2', 'commit', 'end',
    ]);
    expect(committed.map((e) => e.seq)).toEqual([1, 2]);
  });

  it('a lost transaction fails every unit of the batch with its cause, and gives the seqs back', async () => {
    const { calls, state, committed, bump, uow } = setup({ savepoints: 'lazy', pureWithoutSavepoint: false, keepTasks: 0 }, 5);
    const cause = new Error('connection lost');
    state.lose = cause;
    const results = await Promise.allSettled([bump('a', 'one'), bump('b', 'two')]);
    expect(results.map((r) => r.status === 'rejected' && r.reason)).toEqual([cause, cause]);
    expect(calls).toEqual(['begin', 'rollback', 'end']);
    expect(committed).toEqual([]);
    expect(uow.head).toBe(5);
  });
});

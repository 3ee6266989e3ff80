/**
 * SQLite writes a running task's progress rows behind the log (store/sqlite/deferred-rows.ts):
 * the row in the file may be behind, but every read gives the committed record, a change that is
 * not progress writes the row at once, an undone unit undoes its deferrals, a lease renewed only
 * in memory is not reaped, and the rows are written when due, before a search and at close.
 * Recovery after SIGKILL is checked end to end by durability.test.ts.
 */
import { copyFileSync, existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { buildServer } from '../../src/app.ts';
import { recovered } from '../../src/store/sqlite/deferred-rows.ts';
import type { TaskRecord } from '../../src/store/store.ts';
import { sqliteFile, task } from './engines.ts';

const running = (id: string, extra: Partial<TaskRecord> = {}): TaskRecord =>
  task(id, 'x', { status: 'running', lease: { token: 'L', expiresAtMs: Date.now() + 60_000, leaseMs: 60_000 }, ...extra });

/** The task's row as it is in the file (a reader of its own). */
function rowOf(file: string, id: string): TaskRecord {
  const db = new Database(file, { readonly: true });
  try {
    return JSON.parse(db.prepare('SELECT doc FROM tasks WHERE id = ?').pluck().get(id) as string) as TaskRecord;
  } finally {
    db.close();
  }
}

async function progress(store: SqliteStore, id: string, done: number, extra: Partial<TaskRecord> = {}): Promise<void> {
  await store.write(async (tx) => {
    const t = (await tx.getTask(id))!;
    await tx.updateTask({ ...t, done, message: `at ${done}`, ...extra });
  });
}

it('keeps a running task\'s progress row behind, reads the committed record everywhere, and writes it for a search and at close', async () => {
  const file = sqliteFile();
  const store = new SqliteStore({ file });
  await store.write((tx) => tx.insertTask(running('a', { owner: 'amy' })));
  await progress(store, 'a', 1); // the first change writes the row: this process now knows what it holds
  for (let done = 2; done <= 5; done++) await progress(store, 'a', done);

  expect(rowOf(file, 'a').done).toBe(1); // behind in the file…
  expect((await store.tasks.get('a'))!.done).toBe(5); // …not to a reader
  expect((await store.tasks.list({ owner: 'amy' }, 10, null)).items.map((t) => t.done)).toEqual([5]);
  expect((await store.tasks.snapshot({ owner: 'amy' }, 10)).tasks.map((t) => t.done)).toEqual([5]);
  expect(await store.write((tx) => tx.getTask('a'))).toMatchObject({ done: 5 });

  // A search looks in the rows' text: they are written first, so it finds the new message.
  expect((await store.tasks.list({ q: 'at 5' }, 10, null)).items.map((t) => t.id)).toEqual(['a']);
  expect(rowOf(file, 'a')).toMatchObject({ done: 5, message: 'at 5' });

  await progress(store, 'a', 6);
  expect(rowOf(file, 'a').done).toBe(5);
  await store.close(); // close writes what is behind
  expect(rowOf(file, 'a')).toMatchObject({ done: 6, message: 'at 6' });
});

it('writes at once a change that is not progress, and a task that is not running', async () => {
  const file = sqliteFile();
  const store = new SqliteStore({ file });
  await store.write(async (tx) => {
    await tx.insertTask(running('r'));
    await tx.insertTask(task('q', 'x', { status: 'queued' }));
  });
  for (const id of ['r', 'q']) {
    await progress(store, id, 1);
    await progress(store, id, 2);
  }
  expect(rowOf(file, 'r').done).toBe(1);
  expect(rowOf(file, 'q').done).toBe(2); // queued: never deferred
  await progress(store, 'r', 3, { status: 'completed', result: { ok: true } });
  expect(rowOf(file, 'r')).toMatchObject({ done: 3, status: 'completed', result: { ok: true } });
  await progress(store, 'r', 4, { stageIndex: 0, stages: [{ key: 's', label: 's', weight: 1, status: 'running', startedAt: null, endedAt: null }] });
  expect(rowOf(file, 'r')).toMatchObject({ done: 4, stageIndex: 0 });
  await store.close();
});

it('undoes a deferral made by a unit that failed, and keeps the other units\' ones', async () => {
  const file = sqliteFile();
  const store = new SqliteStore({ file });
  await store.write(async (tx) => {
    await tx.insertTask(running('a'));
    await tx.insertTask(running('b'));
  });
  await progress(store, 'a', 1);
  await progress(store, 'b', 1);
  const failed = store.write(async (tx) => {
    await tx.updateTask({ ...(await tx.getTask('a'))!, done: 99 });
    await tx.nextQueued([]); // flushes the unit's rows (deferring a's) inside its savepoint
    throw new Error('unit fails');
  });
  const kept = progress(store, 'b', 2);
  await expect(failed).rejects.toThrow('unit fails');
  await kept;
  expect((await store.tasks.get('a'))!.done).toBe(1);
  expect((await store.tasks.get('b'))!.done).toBe(2);
  expect(await store.write((tx) => tx.getTask('a'))).toMatchObject({ done: 1 });
  await store.close();
  expect(rowOf(file, 'a').done).toBe(1);
  expect(rowOf(file, 'b').done).toBe(2);
});

it('does not reap a task whose lease a deferred report renewed', async () => {
  const file = sqliteFile();
  const store = new SqliteStore({ file });
  const now = Date.now();
  await store.write((tx) => tx.insertTask(running('a', { lease: { token: 'L', expiresAtMs: now - 1000, leaseMs: 60_000 } })));
  await store.write((tx) => tx.insertTask(running('late', { lease: { token: 'M', expiresAtMs: now - 500, leaseMs: 60_000 } })));
  await progress(store, 'a', 1); // written: still expired
  await progress(store, 'a', 2, { lease: { token: 'L', expiresAtMs: now + 60_000, leaseMs: 60_000 } }); // renewed, deferred
  expect(rowOf(file, 'a').lease!.expiresAtMs).toBe(now - 1000);
  const expired = await store.write((tx) => tx.expiredLeases(now, 1));
  expect(expired.map((t) => t.id)).toEqual(['late']); // `a` is read past, and does not take the one place
  await store.close();
});

it('writes deferred rows once they are due, with no further commit', async () => {
  const file = sqliteFile();
  const store = new SqliteStore({ file });
  await store.write((tx) => tx.insertTask(running('a')));
  await progress(store, 'a', 1);
  await progress(store, 'a', 2);
  expect(rowOf(file, 'a').done).toBe(1);
  // The store's timer writes them (DEFER_MS after the deferral): wait for the row, not for time.
  await expect.poll(() => rowOf(file, 'a').done, { timeout: 20_000, interval: 50 }).toBe(2);
  await store.close();
});

it('brings rows left behind by a crash up to the log at open', async () => {
  const file = sqliteFile();
  const server = await buildServer({ db: file, logLevel: 'silent' });
  const admin = { role: 'admin' as const, keyId: null };
  const started = await Promise.all(['a', 'b'].map(() => server.tasks.create(admin, { type: 'x', owner: 'u', start: true, leaseMs: 60_000 }, null)));
  const [a, b] = started.map((r) => ({ id: r.task.id, lease: r.lease!.token }));
  await server.tasks.progressMany([{ ...a!, done: 1, total: 10 }, { ...b!, done: 1, total: 10 }]);
  await server.tasks.progressMany([{ ...a!, done: 7, message: 'seven' }]);
  await server.tasks.progressMany([{ ...a!, done: 8, metadata: { step: 'eight' } }]);
  // A crash image: the file and its WAL as they are between two commits, the rows behind.
  const crashed = `${file}.crashed`;
  copyFileSync(file, crashed);
  if (existsSync(`${file}-wal`)) copyFileSync(`${file}-wal`, `${crashed}-wal`);
  const live = await server.store.tasks.get(a!.id);
  await server.close();
  expect(rowOf(crashed, a!.id).done).toBeLessThan(8); // behind in the image

  const reopened = new SqliteStore({ file: crashed });
  expect(rowOf(crashed, a!.id)).toMatchObject({ done: 8, total: 10, message: 'seven', metadata: { step: 'eight' }, seq: live!.seq });
  expect(rowOf(crashed, a!.id).lease!.expiresAtMs).toBeGreaterThanOrEqual(live!.lease!.expiresAtMs - 5); // renewed from the event's time (ms)
  expect(rowOf(crashed, b!.id)).toMatchObject({ done: 1, total: 10 });
  expect(await reopened.tasks.get(a!.id)).toMatchObject({ done: 8, status: 'running', updatedAt: live!.updatedAt });
  await reopened.close();
});

it('recovers a row from its task\'s last event: progress, message and times, the lease renewed from the event\'s time', () => {
  const rec = running('a', { done: 1, seq: 10, heartbeatAt: '2026-12-02T00:00:01.000Z', lease: { token: 'L', expiresAtMs: 1_000, leaseMs: 5_000 } });
  const wire = { status: 'running', stage: null, seq: 12, progress: { done: 3, total: 10, percent: 30 }, message: 'm', metadata: { k: 1 }, updatedAt: '2026-12-02T00:00:02.000Z', heartbeatAt: '2026-12-02T00:00:02.000Z', health: 'ok' };
  expect(recovered(rec, wire, 2_000)).toMatchObject({
    done: 3, total: 10, percent: 30, message: 'm', metadata: { k: 1 }, seq: 12, heartbeatAt: '2026-12-02T00:00:02.000Z',
    lease: { token: 'L', expiresAtMs: 7_000, leaseMs: 5_000 }, lastMoveAtMs: 2_000, status: 'running',
  });
  expect(recovered({ ...rec, seq: 12 }, wire, 2_000)).toBeNull(); // the row holds it already
  expect(recovered({ ...rec, status: 'completed' }, wire, 2_000)).toBeNull(); // a change never deferred came after
  expect(recovered(rec, { ...wire, stage: { index: 0 } }, 2_000)).toBeNull();
});

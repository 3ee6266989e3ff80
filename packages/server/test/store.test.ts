/**
 * Store conformance: the behaviour every Store implementation must have. Runs against SQLite and
 * PostgreSQL (`TASKPULSE_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test; each
 * test in a fresh schema). An unreachable PostgreSQL fails these tests: it does not skip them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite/index.ts';
import { PostgresStore } from '../src/store/postgres/index.ts';
import pg from 'pg';
import Database from 'better-sqlite3';
import type { NewEvent, Store, TaskRecord } from '../src/store/store.ts';
import * as model from '../src/tasks/model.ts';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function sqlite(): { open: () => Store } {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-store-'));
  dirs.push(dir);
  return { open: () => new SqliteStore({ file: join(dir, 's.db') }) };
}

const PG_URL = process.env.TASKPULSE_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
afterEach(async () => {
  const drop = schemas.splice(0);
  if (drop.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    for (const s of drop) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  } finally {
    await c.end();
  }
});

function postgres(): { open: () => Store } {
  const schema = `tp_${randomBytes(6).toString('hex')}`;
  schemas.push(schema);
  return { open: () => new PostgresStore({ connectionString: PG_URL, schema }) };
}

const ENGINES: Record<string, () => { open: () => Store }> = { sqlite, postgres };

const task = (id: string, type = 'x'): TaskRecord => model.newTask({ type, owner: 'o' }, id, Date.now(), null);
const event = (t: TaskRecord): NewEvent => ({
  type: 'task.updated', at: new Date().toISOString(), owner: t.owner, taskId: t.id, taskType: t.type, parentId: null, tags: [], milestone: false,
  body: (seq) => ({ task: { ...t, seq } }),
});

for (const [name, engine] of Object.entries(ENGINES)) {
  describe(`store: ${name}`, () => {
    it('keeps ETA scores durably and reads them back by time and type, a failed unit leaving none', async () => {
      const { open } = engine();
      let store = open();
      const check = (type: string, endedAtMs: number, checkpoint: number, error: number | null, inside: boolean | null) =>
        ({ type, endedAtMs, checkpoint, error, inside, width: error === null ? null : 0.5 });
      await store.write((tx) => tx.recordEtaChecks([check('pdf', 1000, 50, 0.12, true), check('pdf', 1000, 90, null, null), check('csv', 2000, 50, 0.3, false)]));
      await store.write((tx) => tx.recordEtaChecks([]));
      await expect(store.write(async (tx) => {
        await tx.recordEtaChecks([check('pdf', 3000, 50, 0.9, false)]);
        throw new Error('undone');
      })).rejects.toThrow('undone');
      await store.close();
      store = open();
      try {
        const pdf = (await store.history.etaChecksSince(0, 'pdf', 10)).sort((a, b) => a.checkpoint - b.checkpoint);
        expect(pdf).toEqual([check('pdf', 1000, 50, 0.12, true), check('pdf', 1000, 90, null, null)]);
        expect((await store.history.etaChecksSince(1500, undefined, 10)).map((c) => c.type)).toEqual(['csv']);
        expect(await store.history.etaChecksSince(0, undefined, 1)).toHaveLength(1);
      } finally {
        await store.close();
      }
    });

    it('undoes a failed unit, including its seqs, and keeps the other units of its batch', async () => {
      const { open } = engine();
      const store = open();
      await store.write((tx) => tx.insertTask(task('a')));
      await store.write((tx) => tx.insertTask(task('b')));
      const committed: number[] = [];
      store.onCommit((events) => committed.push(...events.map((e) => e.seq)));
      const bump = (id: string, message: string) =>
        store.write(async (tx) => {
          const t = { ...(await tx.getTask(id))!, message };
          await tx.appendEvent(event(t));
          await tx.updateTask(t);
        });
      const results = await Promise.allSettled([
        bump('a', 'one'),
        store.write(async (tx) => {
          const t = { ...(await tx.getTask('b'))!, message: 'doomed' };
          await tx.appendEvent(event(t));
          await tx.updateTask(t);
          await tx.nextQueued([]); // forces a flush of earlier units' rows inside this unit
          throw new Error('boom');
        }),
        bump('b', 'three'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
      expect(committed).toEqual([1, 2]);
      expect((await store.tasks.get('a'))!.message).toBe('one');
      expect((await store.tasks.get('b'))!.message).toBe('three');
      expect((await store.events.read(0, {}, 10)).events.map((e) => e.seq)).toEqual([1, 2]);
      await store.close();

      const reopened = open();
      expect((await reopened.tasks.get('a'))!.message).toBe('one');
      expect(await reopened.events.head()).toBe(2);
      await reopened.close();
    });

    it('undoes a failed `pure` unit (run without a savepoint) whether it failed before or after writing', async () => {
      const { open } = engine();
      const store = open();
      await store.write((tx) => tx.insertTask(task('a')));
      await store.write((tx) => tx.insertTask(task('b')));
      const committed: number[] = [];
      store.onCommit((events) => committed.push(...events.map((e) => e.seq)));
      const runs = { a: 0 };
      const bump = (id: string, message: string, fail?: 'before' | 'after') =>
        store.write(
          async (tx) => {
            if (id === 'a') runs.a++;
            const t = { ...(await tx.getTask(id))!, message };
            if (fail === 'before') throw new Error('refused');
            await tx.appendEvent(event(t));
            await tx.updateTask(t);
            if (fail === 'after') throw new Error('boom');
          },
          { pure: true },
        );
      const results = await Promise.allSettled([bump('a', 'one'), bump('b', 'refused', 'before'), bump('b', 'doomed', 'after'), bump('b', 'three')]);
      expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected', 'fulfilled']);
      expect(results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : null))).toEqual([null, 'refused', 'boom', null]);
      expect(runs.a).toBe(name === 'sqlite' ? 2 : 1); // SQLite ran the batch again, with savepoints
      expect(committed).toEqual([1, 2]);
      expect((await store.tasks.get('a'))!.message).toBe('one');
      expect((await store.tasks.get('b'))!.message).toBe('three');
      const events = (await store.events.read(0, {}, 10)).events;
      expect(events.map((e) => [e.seq, (JSON.parse(e.json) as { task: { message: string } }).task.message])).toEqual([[1, 'one'], [2, 'three']]);
      await store.close();

      const reopened = open();
      expect((await reopened.tasks.get('b'))!.message).toBe('three');
      expect(await reopened.events.head()).toBe(2);
      await reopened.close();
    });

    it('claims oldest first and counts queue positions per type', async () => {
      const store = engine().open();
      for (const id of ['t1', 't2', 't3']) await store.write((tx) => tx.insertTask(task(id, id === 't2' ? 'other' : 'x')));
      const first = await store.write((tx) => tx.nextQueued(['x']));
      expect(first!.id).toBe('t1');
      expect(await store.tasks.queuePosition((await store.tasks.get('t3'))!)).toBe(2);
      expect(await store.tasks.queuePosition((await store.tasks.get('t2'))!)).toBe(1);
      // A task moved out of the queue in the same batch is no longer found.
      await store.write(async (tx) => {
        const t = (await tx.getTask('t1'))!;
        await tx.updateTask({ ...t, status: 'running' });
        expect((await tx.nextQueued(['x']))!.id).toBe('t3');
      });
      await store.close();
    });

    it('reads back from the log exactly the events sent live, across undone units, pruning and a restart', async () => {
      const { open } = engine();
      let store = open();
      const live = new Map<number, unknown>();
      const listen = (s: Store) => s.onCommit((events) => events.forEach((e) => live.set(e.seq, JSON.parse(e.json))));
      listen(store);
      const base = { ...task('c'), input: { blob: 'i'.repeat(10_000) } };
      await store.write((tx) => tx.insertTask(base));
      const hourAgo = new Date(Date.now() - 3600_000).toISOString();
      const report = (s: Store, n: number, over: Partial<TaskRecord> = {}, e: Partial<NewEvent> = {}, fail = false) =>
        s.write(async (tx) => {
          const t = { ...(await tx.getTask('c'))!, done: n, total: 100, message: `m${n}`, ...over };
          await tx.appendEvent({ ...event(t), ...e });
          await tx.updateTask(t);
          if (fail) throw new Error('undone');
        });
      for (let n = 1; n <= 4; n++) await report(store, n, {}, { at: hourAgo }); // old: pruned below
      for (let n = 5; n <= 12; n++) await report(store, n, n === 8 ? { metadata: { note: 'z'.repeat(2000) } } : {}, { milestone: n === 10 });
      await report(store, 13, {}, {}, true).catch(() => {});
      await report(store, 14);
      const readAll = async (s: Store) => new Map((await s.events.read(0, {}, 100)).events.map((e) => [e.seq, JSON.parse(e.json) as unknown]));
      expect([...(await readAll(store)).entries()]).toEqual([...live.entries()]);
      expect(await store.events.prune(Date.now() - 60_000)).toBe(4);
      for (let seq = 1; seq <= 4; seq++) live.delete(seq);
      expect([...(await readAll(store)).entries()]).toEqual([...live.entries()]);
      await store.close();

      store = open();
      listen(store);
      await report(store, 15);
      await report(store, 16);
      expect([...(await readAll(store)).entries()]).toEqual([...live.entries()]);
      expect(live.size).toBe(11); // seqs 5–15: the undone unit gave its number back
      await store.close();
    });

    it('prunes old events but keeps the head, and reports the floor', async () => {
      const store = engine().open();
      await store.write((tx) => tx.insertTask(task('p')));
      const t = (await store.tasks.get('p'))!;
      const old = { ...event(t), at: new Date(Date.now() - 3600_000).toISOString() };
      for (let i = 0; i < 5; i++) await store.write((tx) => tx.appendEvent(old));
      await store.write((tx) => tx.appendEvent(event(t)));
      expect(await store.events.prune(Date.now() - 60_000)).toBe(5);
      expect(await store.events.floor()).toBe(5);
      expect((await store.events.read(0, {}, 10)).events.map((e) => e.seq)).toEqual([6]);
      await store.close();
    });
  });
}

describe('store: sqlite log size', () => {
  it('stores a progress event in a few hundred bytes whatever the size of the task', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'taskpulse-store-'));
    dirs.push(dir);
    const store = new SqliteStore({ file: join(dir, 's.db') });
    const t = { ...task('big'), input: { blob: 'i'.repeat(100_000) }, metadata: { m: 'x'.repeat(10_000) } };
    await store.write((tx) => tx.insertTask(t));
    for (let n = 1; n <= 50; n++) {
      await store.write(async (tx) => {
        const cur = { ...(await tx.getTask('big'))!, done: n, total: 50, message: `page ${n} of 50` };
        await tx.appendEvent(event(cur));
        await tx.updateTask(cur);
      });
    }
    await store.close();
    const db = new Database(join(dir, 's.db'), { readonly: true });
    const rows = db.prepare('SELECT length(json) AS n FROM events ORDER BY seq').pluck().all() as number[];
    const versions = db.prepare('SELECT count(*) FROM task_versions').pluck().get();
    db.close();
    expect(versions).toBe(1); // the first event; every later one is a diff against it
    expect(Math.max(...rows.slice(1))).toBeLessThan(200);
  });
});

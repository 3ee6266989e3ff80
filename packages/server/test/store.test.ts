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
import { SqliteStore } from '../src/store/sqlite/sqlite-store.ts';
import { PostgresStore } from '../src/store/postgres/postgres-store.ts';
import pg from 'pg';
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
      expect((await store.getTask('a'))!.message).toBe('one');
      expect((await store.getTask('b'))!.message).toBe('three');
      expect((await store.readEvents(0, {}, 10)).events.map((e) => e.seq)).toEqual([1, 2]);
      await store.close();

      const reopened = open();
      expect((await reopened.getTask('a'))!.message).toBe('one');
      expect(await reopened.head()).toBe(2);
      await reopened.close();
    });

    it('claims oldest first and counts queue positions per type', async () => {
      const store = engine().open();
      for (const id of ['t1', 't2', 't3']) await store.write((tx) => tx.insertTask(task(id, id === 't2' ? 'other' : 'x')));
      const first = await store.write((tx) => tx.nextQueued(['x']));
      expect(first!.id).toBe('t1');
      expect(await store.queuePosition((await store.getTask('t3'))!)).toBe(2);
      expect(await store.queuePosition((await store.getTask('t2'))!)).toBe(1);
      // A task moved out of the queue in the same batch is no longer found.
      await store.write(async (tx) => {
        const t = (await tx.getTask('t1'))!;
        await tx.updateTask({ ...t, status: 'running' });
        expect((await tx.nextQueued(['x']))!.id).toBe('t3');
      });
      await store.close();
    });

    it('prunes old events but keeps the head, and reports the floor', async () => {
      const store = engine().open();
      await store.write((tx) => tx.insertTask(task('p')));
      const t = (await store.getTask('p'))!;
      const old = { ...event(t), at: new Date(Date.now() - 3600_000).toISOString() };
      for (let i = 0; i < 5; i++) await store.write((tx) => tx.appendEvent(old));
      await store.write((tx) => tx.appendEvent(event(t)));
      expect(await store.pruneEvents(Date.now() - 60_000)).toBe(5);
      expect(await store.floor()).toBe(5);
      expect((await store.readEvents(0, {}, 10)).events.map((e) => e.seq)).toEqual([6]);
      await store.close();
    });
  });
}

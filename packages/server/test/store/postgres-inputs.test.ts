/**
 * PostgreSQL keeps a large task input apart from the task's row (store/postgres/task-docs.ts): the
 * row, of which every report writes a new version, stays small whatever the input, and the input
 * is written once — by whichever instance writes first, never again by another, and again only
 * when the transaction that wrote it was undone. A trigger counts every input row the store sends
 * (a BEFORE INSERT trigger fires for each row an `INSERT … ON CONFLICT` proposes, conflict or not).
 * What the reads give back is in the engine-neutral suite (tasks.test.ts).
 */
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { INPUT_APART_CHARS } from '../../src/store/task-docs.ts';
import { freshSchema } from '../support.ts';
import { task } from './engines.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Two stores (two instances) on a fresh schema, and a connection to look inside it. */
async function setup() {
  const { url } = await freshSchema(cleanups);
  const open = async () => {
    const store = await PostgresStore.open({ connectionString: url });
    cleanups.push(() => store.close());
    return store;
  };
  const a = await open();
  const b = await open();
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  cleanups.push(() => db.end());
  await db.query(`
    CREATE TABLE input_writes (id text NOT NULL);
    CREATE FUNCTION input_written() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN INSERT INTO input_writes VALUES (NEW.id); RETURN NEW; END $$;
    CREATE TRIGGER input_written BEFORE INSERT ON task_inputs FOR EACH ROW EXECUTE FUNCTION input_written();`);
  const rows = async <T>(sql: string) => (await db.query(sql)).rows as T[];
  return {
    a, b, db,
    /** Every input row the stores have sent (and committed), in order. */
    writes: async () => (await rows<{ id: string }>('SELECT id FROM input_writes')).map((r) => r.id),
    /** Each task's document length, and whether it keeps its input apart. */
    docs: () => rows<{ id: string; n: number; apart: string | null }>(`SELECT id, length(doc) AS n, doc::json->>'$input' AS apart FROM tasks ORDER BY id`),
  };
}

const big = { blob: 'x'.repeat(10_000) };

it('writes an input over the limit once, apart, and keeps the row small through rewrites by either instance', async () => {
  const { a, b, db, writes, docs } = await setup();
  const small = { blob: 'x'.repeat(INPUT_APART_CHARS - 20) };
  await a.write(async (tx) => {
    await tx.insertTask(task('big', 'x', { input: big }));
    await tx.insertTask(task('small', 'x', { input: small }));
  });
  for (let done = 1; done <= 4; done++) {
    // Alternating instances, each reading the task in its own batch.
    await (done % 2 ? b : a).write(async (tx) => {
      for (const id of ['big', 'small']) await tx.updateTask({ ...(await tx.getTask(id))!, done });
    }, { tasks: ['big', 'small'] });
  }
  const [bigRow, smallRow] = await docs();
  expect(bigRow).toEqual({ id: 'big', n: expect.any(Number), apart: '1' });
  expect(bigRow!.n).toBeLessThan(2000); // the 10 KB input is not in the row
  expect(smallRow).toEqual({ id: 'small', n: expect.any(Number), apart: null }); // a small input stays inline
  expect(smallRow!.n).toBeGreaterThan(INPUT_APART_CHARS);
  expect((await db.query('SELECT id, input FROM task_inputs')).rows).toEqual([{ id: 'big', input: JSON.stringify(big) }]);
  expect(await writes()).toEqual(['big']); // once, by the insert: no rewrite sent it again
  expect(await b.tasks.get('big')).toMatchObject({ input: big, done: 4 });
});

it('moves an inline input apart at its next rewrite, once; a unit undone after writing it forgets it', async () => {
  const { a, b, db, writes, docs } = await setup();
  const legacy = task('legacy', 'x', { input: big });
  await a.write((tx) => tx.insertTask(legacy));
  // As a row written before inputs were kept apart (migration 9) reads: the input inline, none apart.
  await db.query('UPDATE tasks SET doc = $1', [JSON.stringify(legacy)]);
  await db.query('DELETE FROM task_inputs; DELETE FROM input_writes');
  expect(await docs()).toEqual([{ id: 'legacy', n: expect.any(Number), apart: null }]);

  // Two units in one batch (one turn of the event loop), the task read with the batch: the first
  // writes the row — and its input apart — mid-unit (a claim reads tasks, so the row is written
  // first), then fails; its savepoint takes the input row with it. The second, with the same
  // record in hand, must write the input again.
  const undone = b.write(async (tx) => {
    await tx.updateTask({ ...(await tx.getTask('legacy'))!, done: 1 });
    await tx.nextQueued([]);
    throw new Error('undone');
  }, { tasks: ['legacy'] });
  const kept = b.write(async (tx) => {
    await tx.updateTask({ ...(await tx.getTask('legacy'))!, done: 2 });
  }, { tasks: ['legacy'] });
  await expect(undone).rejects.toThrow('undone');
  await kept;
  expect(await writes()).toEqual(['legacy']); // the undone unit's write went with it
  expect(await docs()).toEqual([{ id: 'legacy', n: expect.any(Number), apart: '1' }]);
  for (const s of [a, b]) expect(await s.tasks.get('legacy')).toMatchObject({ input: big, done: 2 });

  await a.write(async (tx) => tx.updateTask({ ...(await tx.getTask('legacy'))!, done: 3 }));
  expect(await writes()).toEqual(['legacy']); // apart now: never sent again
});

it('writes a large input again when a unit puts another in its place (the task model never does; the store allows it)', async () => {
  const { a, b, writes } = await setup();
  await a.write((tx) => tx.insertTask(task('t', 'x', { input: big })));
  const other = { blob: 'y'.repeat(10_000) };
  await b.write(async (tx) => tx.updateTask({ ...(await tx.getTask('t'))!, input: other }), { tasks: ['t'] });
  for (const s of [a, b]) expect((await s.tasks.get('t'))!.input).toEqual(other);
  await a.write(async (tx) => tx.updateTask({ ...(await tx.getTask('t'))!, done: 1 }), { tasks: ['t'] });
  expect(await writes()).toEqual(['t', 't']); // the insert, the replacement; not the rewrite after
});

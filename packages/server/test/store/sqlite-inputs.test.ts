/**
 * SQLite keeps a large task input apart from the task's row (store/sqlite/task-docs.ts): the row,
 * which every report rewrites, stays small whatever the input, and the input is written once.
 * What the reads give back is in the engine-neutral suite (tasks.test.ts).
 */
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { INPUT_APART_CHARS } from '../../src/store/task-docs.ts';
import { sqliteFile, task } from './engines.ts';

it('writes an input over the limit once, apart, and keeps the row small through rewrites', async () => {
  const file = sqliteFile();
  const store = new SqliteStore({ file });
  const big = { blob: 'x'.repeat(10_000) };
  const small = { blob: 'x'.repeat(INPUT_APART_CHARS - 20) };
  await store.write(async (tx) => {
    await tx.insertTask(task('big', 'x', { input: big }));
    await tx.insertTask(task('small', 'x', { input: small }));
  });
  for (let done = 1; done <= 3; done++) {
    await store.write(async (tx) => {
      for (const id of ['big', 'small']) await tx.updateTask({ ...(await tx.getTask(id))!, done });
    });
  }
  await store.close();
  const db = new Database(file, { readonly: true });
  try {
    const rows = db.prepare('SELECT id, length(doc) AS n, json_extract(doc, \'$."$input"\') AS apart FROM tasks ORDER BY id').all();
    expect(rows).toEqual([
      { id: 'big', n: expect.any(Number), apart: 1 },
      { id: 'small', n: expect.any(Number), apart: null }, // a small input stays inline
    ]);
    expect((rows[0] as { n: number }).n).toBeLessThan(2000); // the 10 KB input is not in the row
    expect((rows[1] as { n: number }).n).toBeGreaterThan(INPUT_APART_CHARS);
    expect(db.prepare('SELECT id, input FROM task_inputs').all()).toEqual([{ id: 'big', input: JSON.stringify(big) }]);
  } finally {
    db.close();
  }
});

it('replaces a large input kept apart when a record brings another', async () => {
  const file = sqliteFile();
  let store = new SqliteStore({ file });
  const first = { blob: 'a'.repeat(5_000) };
  const second = { blob: 'b'.repeat(5_000) };
  await store.write((tx) => tx.insertTask(task('t', 'x', { input: first })));
  await store.write(async (tx) => tx.updateTask({ ...(await tx.getTask('t'))!, input: second }));
  expect((await store.tasks.get('t'))!.input).toEqual(second);
  await store.close();
  store = new SqliteStore({ file }); // read back from the file, not from memory
  expect((await store.tasks.get('t'))!.input).toEqual(second);
  await store.close();
});

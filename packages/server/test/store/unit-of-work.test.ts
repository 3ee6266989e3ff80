/**
 * The write path (`store.write`, the unit of work) on every engine: a failed unit undoes only
 * itself — its rows, its events and their seqs — and the rest of its batch commits.
 */
import { expect, it } from 'vitest';
import type { Store } from '../../src/store/store.ts';
import { describeStores, event, task } from './engines.ts';

/** Tasks `a` and `b` stored, and the seqs of every commit from now on. */
async function twoTasks(store: Store): Promise<number[]> {
  await store.write((tx) => tx.insertTask(task('a')));
  await store.write((tx) => tx.insertTask(task('b')));
  const committed: number[] = [];
  store.onCommit((events) => committed.push(...events.map((ev) => ev.seq)));
  return committed;
}

describeStores('store unit of work', (engine, name) => {
  it('undoes a failed unit, including its seqs, and keeps the other units of its batch', async () => {
    const e = engine();
    const store = await e.open();
    const committed = await twoTasks(store);
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
    expect((await store.events.read(0, {}, 10)).events.map((ev) => ev.seq)).toEqual([1, 2]);
    await store.close();

    const reopened = await e.open();
    expect((await reopened.tasks.get('a'))!.message).toBe('one');
    expect(await reopened.events.head()).toBe(2);
  });

  it('undoes a failed `pure` unit (run without a savepoint) whether it failed before or after writing', async () => {
    const e = engine();
    const store = await e.open();
    const committed = await twoTasks(store);
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
    expect(events.map((ev) => [ev.seq, (JSON.parse(ev.json) as { task: { message: string } }).task.message])).toEqual([[1, 'one'], [2, 'three']]);
    await store.close();

    const reopened = await e.open();
    expect((await reopened.tasks.get('b'))!.message).toBe('three');
    expect(await reopened.events.head()).toBe(2);
  });

  it('answers each append with the stored event and its seq, in the order of the units', async () => {
    const store = await engine().open();
    await store.write((tx) => tx.insertTask(task('a')));
    const t = (await store.tasks.get('a'))!;
    const [first, second] = await Promise.all([
      store.write((tx) => tx.appendEvent(event(t))),
      store.write((tx) => tx.appendEvent(event(t, 'bob'))),
    ]);
    expect([first.seq, second.seq]).toEqual([1, 2]);
    expect(second).toMatchObject({ owner: 'bob', taskId: 'a', type: 'task.updated' });
    expect(JSON.parse(second.json)).toMatchObject({ seq: 2, type: 'task.updated', taskId: 'a', task: { id: 'a', seq: 2 } });
    expect((await store.events.read(0, {}, 10)).events.map((ev) => ev.json)).toEqual([first.json, second.json]);
  });

  it('refuses writes once closed, as unavailable storage', async () => {
    const store = await engine().open();
    await store.close();
    await store.close(); // idempotent
    await expect(store.write((tx) => tx.insertTask(task('late')))).rejects.toMatchObject({ name: 'StorageUnavailableError' });
  });
});

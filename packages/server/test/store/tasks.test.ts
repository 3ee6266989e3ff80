/** The `tasks` sub-store on every engine: claims, pages and sorts, filters, counts, snapshots, logs. */
import { expect, it } from 'vitest';
import { StorageError } from '../../src/store/errors.ts';
import type { TaskRecord } from '../../src/store/store.ts';
import { describeStores, event, task } from './engines.ts';

describeStores('store tasks', (engine) => {
  it('claims oldest first and counts queue positions per type', async () => {
    const store = await engine().open();
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
    // A task not yet stored is last in line.
    expect(await store.tasks.queuePosition(task('t9'))).toBe(2);
  });

  it('finds the running tasks whose lease expired before now, to the millisecond, oldest first', async () => {
    const store = await engine().open();
    // Expiries not on a round number (PostgreSQL stores them rounded up, and reads the exact one from the task).
    const at = 1_700_000_001_234;
    const running = (id: string, expiresAtMs: number) => task(id, 'x', { status: 'running', lease: { token: `l-${id}`, expiresAtMs } });
    await store.write(async (tx) => {
      await tx.insertTask(running('late', at + 10));
      await tx.insertTask(running('early', at));
      await tx.insertTask(running('later', at + 4_000));
      await tx.insertTask(task('queued'));
    });
    const expired = (nowMs: number, limit = 10) => store.write(async (tx) => (await tx.expiredLeases(nowMs, limit)).map((t) => t.id));
    expect(await expired(at)).toEqual([]);
    expect(await expired(at + 1)).toEqual(['early']);
    expect(await expired(at + 11)).toEqual(['early', 'late']);
    expect(await expired(at + 11, 1)).toEqual(['early']);
    // A report renews the lease: the new expiry counts.
    await store.write(async (tx) => {
      const t = (await tx.getTask('early'))!;
      await tx.updateTask({ ...t, lease: { ...t.lease!, expiresAtMs: at + 20 } });
    });
    expect(await expired(at + 11)).toEqual(['late']);
    expect(await expired(at + 4_001)).toEqual(['late', 'early', 'later']);
  });

  it('keeps any string in a task through an update, a lone surrogate and NUL included', async () => {
    const store = await engine().open();
    const odd = 'a\ud800b\u0000c"\\\u2028é';
    await store.write((tx) => tx.insertTask(task('t1')));
    await store.write(async (tx) => {
      const t = (await tx.getTask('t1'))!;
      await tx.updateTask({ ...t, input: { odd }, metadata: { [odd]: [odd] } });
    });
    const back = (await store.tasks.get('t1'))!;
    expect(back.input).toEqual({ odd });
    expect(back.metadata).toEqual({ [odd]: [odd] });
  });

  it('pages tasks newest first, sorts, filters, counts and snapshots', async () => {
    const e = engine();
    const a = await e.open();
    const b = e.shared ? await e.open() : a; // another instance where the engine has several
    await a.write(async (tx) => {
      for (let i = 0; i < 5; i++) await tx.insertTask(task(`t${i}`, i % 2 ? 'odd' : 'even', { tags: i === 2 ? ['vip'] : [] }));
    });
    const first = await a.tasks.list({}, 2, null);
    expect(first.items.map((t) => t.id)).toEqual(['t4', 't3']);
    const second = await b.tasks.list({}, 2, first.nextCursor);
    expect(second.items.map((t) => t.id)).toEqual(['t2', 't1']);
    expect((await b.tasks.list({}, 2, second.nextCursor)).nextCursor).toBeNull();
    // A cursor the store did not hand out is a storage error (the HTTP layer answers 400 invalid_request).
    await expect(a.tasks.list({}, 2, 'bm90LWEtY3Vyc29y')).rejects.toMatchObject({ kind: 'invalid_cursor', field: 'cursor' });
    await expect(a.tasks.list({}, 2, 'bm90LWEtY3Vyc29y')).rejects.toBeInstanceOf(StorageError);
    // Sorted server-side (here by type, ties in creation order), paged by a keyset cursor in that order.
    const byType: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: TaskRecord[]; nextCursor: string | null } = await b.tasks.list({}, 2, cursor, { key: 'type', order: 'asc' });
      byType.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(byType).toEqual(['t0', 't2', 't4', 't1', 't3']);
    await expect(a.tasks.list({}, 2, first.nextCursor, { key: 'type', order: 'asc' })).rejects.toMatchObject({ kind: 'invalid_cursor', field: 'cursor' });
    expect((await a.tasks.list({ tag: 'vip' }, 10, null)).items.map((t) => t.id)).toEqual(['t2']);
    expect((await a.tasks.list({ type: 'odd', statuses: ['queued'] }, 10, null)).items.map((t) => t.id)).toEqual(['t3', 't1']);
    expect(await a.tasks.queuePosition((await a.tasks.get('t4'))!)).toBe(3);
    expect((await a.tasks.countByStatus('even')).queued).toBe(3);
    expect(await a.tasks.countByStatus()).toMatchObject({ queued: 5, running: 0, completed: 0, failed: 0, canceled: 0 });
    expect(await a.tasks.count({ tag: 'vip', statuses: ['running'] })).toMatchObject({ queued: 1, running: 0 }); // counts ignore the status filter
    expect(await a.tasks.countByTypeAndStatus()).toEqual(expect.arrayContaining([{ type: 'odd', status: 'queued', count: 2 }]));

    const t2 = (await a.tasks.get('t2'))!;
    await a.write(async (tx) => {
      await tx.appendEvent(event(t2, 'alice'));
      await tx.appendEvent(event(t2, 'bob'));
    });
    const snap = await b.tasks.snapshot({ type: 'even' }, 10);
    expect(snap).toMatchObject({ head: 2 });
    expect(snap.tasks.map((t) => t.id)).toEqual(['t4', 't2', 't0']);
    expect((await b.tasks.snapshot({ type: 'even', statuses: ['completed'] }, 10)).tasks).toEqual([]);
    expect(await b.tasks.get('nope')).toBeNull();
  });

  it('keeps a task\'s log lines in seq order', async () => {
    const store = await engine().open();
    await store.write(async (tx) => {
      await tx.insertTask(task('l'));
      for (let seq = 1; seq <= 3; seq++) await tx.insertLog('l', seq, new Date(seq * 1000).toISOString(), 'info', `line ${seq}`);
    });
    expect(await store.tasks.logs('l', 1, 10)).toEqual([
      { seq: 2, at: new Date(2000).toISOString(), level: 'info', message: 'line 2' },
      { seq: 3, at: new Date(3000).toISOString(), level: 'info', message: 'line 3' },
    ]);
    expect((await store.tasks.logs('l', 0, 1)).map((l) => l.seq)).toEqual([1]);
  });

  it('gives back a large input whole after its row was rewritten, in every read, after a reopen and on a failed unit', async () => {
    const e = engine();
    const store = await e.open();
    const input = { blob: 'é'.repeat(3000), list: [1, 2, 3], needle: 'find-me-in-the-input' };
    const big = task('big', 'x', { input });
    const small = task('small', 'x', { input: { n: 1 } });
    await store.write(async (tx) => {
      await tx.insertTask(big);
      await tx.insertTask(small);
    });
    for (let i = 1; i <= 3; i++) {
      await store.write(async (tx) => {
        const t = (await tx.getTask('big'))!;
        await tx.updateTask({ ...t, status: 'running', done: i, total: 10 });
      });
    }
    // A unit that fails after writing a task with a large input undoes its input too.
    await expect(
      store.write(async (tx) => {
        await tx.insertTask(task('gone', 'x', { input }));
        throw new Error('undone');
      }),
    ).rejects.toThrow('undone');
    const check = async (s: typeof store) => {
      const got = (await s.tasks.get('big'))!;
      expect(got.input).toEqual(input);
      expect(got.done).toBe(3);
      expect(Object.keys(got)).toEqual(Object.keys(big)); // the same record, field order included
      expect((await s.tasks.list({}, 10, null)).items.find((t) => t.id === 'big')!.input).toEqual(input);
      expect((await s.tasks.snapshot({ statuses: ['running'] }, 10)).tasks.map((t) => t.input)).toEqual([input]);
      expect((await s.tasks.list({ q: 'FIND-ME-IN-THE' }, 10, null)).items.map((t) => t.id)).toEqual(['big']);
      expect((await s.tasks.get('small'))!.input).toEqual({ n: 1 });
      expect(await s.tasks.get('gone')).toBeNull();
      expect(await s.write(async (tx) => (await tx.getTask('big'))!.input)).toEqual(input);
    };
    await check(store);
    if (e.shared) {
      await check(await e.open());
    } else {
      await store.close();
      const again = await e.open();
      await check(again);
      // The writer reads it from the database now (no cached record): a rewrite keeps it.
      await again.write(async (tx) => {
        const t = (await tx.getTask('big'))!;
        await tx.updateTask({ ...t, done: 4 });
      });
      expect((await again.tasks.get('big'))!).toMatchObject({ input, done: 4 });
    }
  });
});

/** The `notifications` sub-store on every engine (written by units of work). */
import { expect, it } from 'vitest';
import { describeStores } from './engines.ts';

describeStores('store notifications', (engine) => {
  it('lists an owner\'s inbox newest first and marks read by seq or by id', async () => {
    const e = engine();
    const a = await e.open();
    const b = e.shared ? await e.open() : a; // another instance where the engine has several
    const n = (id: string, seq: number, owner = 'alice') => ({
      id, seq, owner, taskId: 't2', kind: 'completed' as const, title: 'x', body: 'y', createdAt: '2026-01-01T00:00:00.000Z', readAt: null,
    });
    await a.write(async (tx) => {
      await tx.insertNotification(n('n1', 1));
      await tx.insertNotification(n('n2', 2));
    });
    const read = await b.write((tx) => tx.markNotificationsRead('alice', { upToSeq: 1 }, new Date().toISOString()));
    expect(read).toEqual(['n1']);
    expect((await a.notifications.list('alice', true, 10)).map((x) => x.id)).toEqual(['n2']);
    await a.write(async (tx) => {
      await tx.insertNotification(n('n3', 3));
      await tx.insertNotification(n('m1', 4, 'bob'));
    });
    expect((await a.notifications.list('alice', true, 10)).map((x) => x.id)).toEqual(['n3', 'n2']);
    expect((await a.notifications.list('alice', false, 10)).map((x) => x.id)).toEqual(['n3', 'n2', 'n1']);
    expect((await a.notifications.list('alice', false, 1)).map((x) => x.id)).toEqual(['n3']);
    // By id: only unread ones of this owner change.
    expect(await b.write((tx) => tx.markNotificationsRead('alice', { ids: ['n1', 'n3', 'm1'] }, new Date().toISOString()))).toEqual(['n3']);
    expect(await b.write((tx) => tx.markNotificationsRead('alice', { ids: [] }, new Date().toISOString()))).toEqual([]);
    expect((await a.notifications.list('alice', true, 10)).map((x) => x.id)).toEqual(['n2']);
    expect((await a.notifications.list('bob', true, 10))[0]).toEqual(n('m1', 4, 'bob'));
  });
});

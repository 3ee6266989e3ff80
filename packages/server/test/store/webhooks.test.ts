/** The `webhooks` sub-store on every engine: subscriptions and the delivery outbox. */
import { expect, it } from 'vitest';
import { describeStores } from './engines.ts';

describeStores('store webhooks', (engine) => {
  it('queues each webhook event once and hands each due delivery to one instance', async () => {
    const e = engine();
    const a = await e.open();
    const b = e.shared ? await e.open() : null; // another instance where the engine has several
    await a.webhooks.create({ id: 'wh', url: 'http://127.0.0.1:1/', events: ['task.updated'], secret: 's', createdAt: new Date().toISOString(), cursor: 0 });
    const deliveries = [1, 2, 3].map((seq) => ({ seq, event: 'task.updated' as const, payload: `{"seq":${seq}}` }));
    const now = Date.now();
    // Both dispatchers saw the same events: only one copy is queued. (A store with one instance has one dispatcher.)
    await Promise.all([a.webhooks.enqueue('wh', deliveries, 3, now), ...(b ? [b.webhooks.enqueue('wh', deliveries, 3, now)] : [])]);
    expect((await a.webhooks.get('wh'))!.cursor).toBe(3);
    const [da, db] = await Promise.all([a.webhooks.due(now, 10), b ? b.webhooks.due(now, 10) : []]);
    expect([...da, ...db].map((d) => d.seq).sort()).toEqual([1, 2, 3]);
    const d = [...da, ...db][0]!;
    await a.webhooks.record(d.id, { status: 'delivered', attempts: 1, nextAttemptAtMs: d.nextAttemptAtMs, lastStatus: 200, lastError: null, deliveredAt: new Date().toISOString() });
    expect(((await (b ?? a).webhooks.deliveries('wh', 10)).find((x) => x.id === d.id))).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 200 });
    expect(await (b ?? a).webhooks.remove('wh')).toBe(true);
    expect(await a.webhooks.list()).toEqual([]);
    expect(await a.webhooks.get('wh')).toBeNull();
  });
});

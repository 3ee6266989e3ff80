/**
 * PostgreSQL store and Redis bus: what only several writers / instances can show.
 *
 * Needs PostgreSQL (`TASKPULSE_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test)
 * and Redis (`TASKPULSE_TEST_REDIS_URL`, default redis://127.0.0.1:6379). When either is
 * unreachable these tests fail; they never skip. Each test uses its own schema and Redis channel.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/index.ts';
import { RedisBus } from '../src/bus/redis/redis-bus.ts';
import type { NewEvent, StoredEvent, TaskRecord } from '../src/store/store.ts';
import * as model from '../src/tasks/model.ts';
import { ADMIN, SseReader, freshSchema as freshSchemaIn, startTestServer, type TestServer } from './support.ts';

const REDIS_URL = process.env.TASKPULSE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const freshSchema = () => freshSchemaIn(cleanups);

async function openStore(connectionString: string): Promise<PostgresStore> {
  const store = await PostgresStore.open({ connectionString });
  cleanups.push(() => store.close());
  return store;
}

const task = (id: string, type = 'x', extra: Partial<TaskRecord> = {}): TaskRecord => ({
  ...model.newTask({ type, owner: 'o' }, id, Date.now(), null),
  ...extra,
});
const event = (t: TaskRecord, owner = t.owner): NewEvent => ({
  type: 'task.updated', at: new Date().toISOString(), owner, taskId: t.id, taskType: t.type, parentId: t.parentId, tags: t.tags, milestone: false,
  body: (seq) => ({ task: { ...t, seq } }),
});

const seqs = (events: StoredEvent[]) => events.map((e) => e.seq);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('postgres store', () => {
  it('keeps the log dense and in commit order under many concurrent writers in two instances', async () => {
    const { url } = await freshSchema();
    const stores = [await openStore(url), await openStore(url)];
    const WRITERS = 20;
    const REPORTS = 50;
    await stores[0]!.write(async (tx) => {
      await tx.insertTask(task('parent'));
      for (let w = 0; w < WRITERS; w++) await tx.insertTask(task(`w${w}`, 'x', { parentId: 'parent' }));
    });
    const committed: number[][] = [[], []];
    stores.forEach((s, i) =>
      s.onCommit((events) => {
        // Within one commit the events come in seq order, one after another.
        expect(seqs(events)).toEqual(range(events[0]!.seq, events[0]!.seq + events.length - 1));
        committed[i]!.push(...seqs(events));
      }),
    );

    let writing = true;
    const violations: string[] = [];
    // Readers on both instances poll as fast as they can: every answer must continue exactly at
    // the cursor, without a hole, and never pass the head it was read with.
    const reader = async (store: PostgresStore, name: string) => {
      let cursor = 0;
      let reads = 0;
      for (;;) {
        const done = !writing;
        const { events, head } = await store.events.read(cursor, {}, 37);
        reads++;
        const expected = range(cursor + 1, cursor + events.length);
        if (seqs(events).join() !== expected.join()) violations.push(`${name}: after ${cursor} got ${seqs(events).join()}`);
        if (events.length > 0 && events[events.length - 1]!.seq > head) violations.push(`${name}: event past head ${head}`);
        if (head < cursor) violations.push(`${name}: head ${head} went back below ${cursor}`);
        cursor = events.length > 0 ? events[events.length - 1]!.seq : cursor;
        if (done && events.length === 0 && cursor === head) return { cursor, reads };
      }
    };
    // A filtered reader: its events must come in increasing seq order and none may be missed.
    const filtered = async (store: PostgresStore) => {
      let cursor = 0;
      const got: number[] = [];
      for (;;) {
        const done = !writing;
        const { events, head } = await store.events.read(cursor, { taskId: 'parent' }, 50);
        got.push(...seqs(events));
        cursor = events.length > 0 ? events[events.length - 1]!.seq : head;
        if (done && events.length === 0) return got;
      }
    };

    const writer = async (w: number) => {
      const store = stores[w % 2]!;
      let ok = 0;
      for (let k = 0; k < REPORTS; k++) {
        const doomed = (w * REPORTS + k) % 7 === 3;
        try {
          await store.write(async (tx) => {
            // The child first, then its parent (as a child report updates its parent's counts).
            const child = { ...(await tx.getTask(`w${w}`))!, message: `${k}` };
            child.seq = (await tx.appendEvent(event(child))).seq;
            await tx.updateTask(child);
            const parent = { ...(await tx.getTask('parent'))!, message: `w${w}:${k}` };
            parent.seq = (await tx.appendEvent(event(parent))).seq;
            await tx.updateTask(parent);
            if (doomed) throw new Error('undo this unit');
          });
          ok++;
        } catch (error) {
          if (!doomed) throw error;
        }
      }
      return ok;
    };

    const readers = [reader(stores[0]!, 'r0'), reader(stores[1]!, 'r1'), reader(stores[0]!, 'r2'), reader(stores[1]!, 'r3')];
    const filteredReader = filtered(stores[1]!);
    // Readers stop once writing is over, whatever its outcome (so a failure doesn't leave them polling).
    const written = await Promise.allSettled(range(0, WRITERS - 1).map(writer));
    writing = false;
    const results = await Promise.all(readers);
    const parentSeqs = await filteredReader;
    const oks = written.map((w) => {
      if (w.status === 'rejected') throw w.reason;
      return w.value;
    });

    const total = oks.reduce((a, b) => a + b, 0) * 2;
    expect(total).toBeGreaterThan(WRITERS * REPORTS); // most units committed (2 events each)
    expect(violations).toEqual([]);
    for (const r of results) expect(r.cursor).toBe(total);
    expect(await stores[1]!.events.head()).toBe(total);
    const log = await stores[0]!.events.read(0, {}, 10_000);
    expect(seqs(log.events)).toEqual(range(1, total));
    // Each instance announced exactly its own commits; together, every seq once.
    expect([...committed[0]!, ...committed[1]!].sort((a, b) => a - b)).toEqual(range(1, total));
    expect(committed[0]!.length).toBeGreaterThan(0);
    expect(committed[1]!.length).toBeGreaterThan(0);
    const parentLog = log.events.filter((e) => e.taskId === 'parent').map((e) => e.seq);
    expect(parentSeqs).toEqual(parentLog);
    // The parent row holds the last committed change.
    const parent = (await stores[0]!.tasks.get('parent'))!;
    expect(parent.seq).toBe(parentLog[parentLog.length - 1]);
  }, 60_000);

  it('pages tasks newest first, filters, snapshots, keys, settings and notifications', async () => {
    const { url } = await freshSchema();
    const [a, b] = [await openStore(url), await openStore(url)];
    await a.write(async (tx) => {
      for (let i = 0; i < 5; i++) await tx.insertTask(task(`t${i}`, i % 2 ? 'odd' : 'even', { tags: i === 2 ? ['vip'] : [] }));
    });
    const first = await a.tasks.list({}, 2, null);
    expect(first.items.map((t) => t.id)).toEqual(['t4', 't3']);
    const second = await b.tasks.list({}, 2, first.nextCursor);
    expect(second.items.map((t) => t.id)).toEqual(['t2', 't1']);
    expect((await b.tasks.list({}, 2, second.nextCursor)).nextCursor).toBeNull();
    await expect(a.tasks.list({}, 2, 'bm90LWEtY3Vyc29y')).rejects.toMatchObject({ kind: 'invalid_cursor', field: 'cursor' });
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
    expect(await a.tasks.countByTypeAndStatus()).toEqual(expect.arrayContaining([{ type: 'odd', status: 'queued', count: 2 }]));

    const t2 = (await a.tasks.get('t2'))!;
    await a.write(async (tx) => {
      await tx.appendEvent(event(t2, 'alice'));
      await tx.appendEvent(event(t2, 'bob'));
    });
    expect((await b.events.read(0, { owner: 'bob' }, 10)).events.map((e) => [e.seq, e.owner])).toEqual([[2, 'bob']]);
    expect((await b.events.read(0, { tag: 'vip' }, 10)).events).toHaveLength(2);
    const snap = await b.tasks.snapshot({ type: 'even' }, 10);
    expect(snap).toMatchObject({ head: 2 });
    expect(snap.tasks.map((t) => t.id)).toEqual(['t4', 't2', 't0']);
    expect(await b.events.floor()).toBe(0);

    // Two instances racing to store a generated secret agree on one value.
    const values = await Promise.all([a.settings.setIfAbsent('secret', 'from-a'), b.settings.setIfAbsent('secret', 'from-b')]);
    expect(values[0]).toBe(values[1]);

    await a.keys.insert({ id: 'k1', name: 'w', role: 'worker', scopes: ['read'], prefix: 'tpk_ab', hash: 'h1', createdAt: new Date().toISOString(), lastUsedAt: null, revokedAt: null });
    expect(await b.keys.findByHash('h1')).toMatchObject({ id: 'k1', role: 'worker', scopes: ['read'] });
    expect(await b.keys.revoke('k1', new Date().toISOString())).toBe(true);
    expect(await a.keys.revoke('k1', new Date().toISOString())).toBe(false);

    const n = (id: string, seq: number) => ({
      id, seq, owner: 'alice', taskId: 't2', kind: 'completed' as const, title: 'x', body: 'y', createdAt: new Date().toISOString(), readAt: null,
    });
    await a.write(async (tx) => {
      await tx.insertNotification(n('n1', 1));
      await tx.insertNotification(n('n2', 2));
    });
    const read = await b.write((tx) => tx.markNotificationsRead('alice', { upToSeq: 1 }, new Date().toISOString()));
    expect(read).toEqual(['n1']);
    expect((await a.notifications.list('alice', true, 10)).map((x) => x.id)).toEqual(['n2']);
  });

  it('queues each webhook event once and hands each due delivery to one instance', async () => {
    const { url } = await freshSchema();
    const [a, b] = [await openStore(url), await openStore(url)];
    await a.webhooks.create({ id: 'wh', url: 'http://127.0.0.1:1/', events: ['task.updated'], secret: 's', createdAt: new Date().toISOString(), cursor: 0 });
    const deliveries = [1, 2, 3].map((seq) => ({ seq, event: 'task.updated' as const, payload: `{"seq":${seq}}` }));
    const now = Date.now();
    // Both dispatchers saw the same events: only one copy is queued.
    await Promise.all([a.webhooks.enqueue('wh', deliveries, 3, now), b.webhooks.enqueue('wh', deliveries, 3, now)]);
    expect((await a.webhooks.get('wh'))!.cursor).toBe(3);
    const [da, db] = await Promise.all([a.webhooks.due(now, 10), b.webhooks.due(now, 10)]);
    expect([...da, ...db].map((d) => d.seq).sort()).toEqual([1, 2, 3]);
    const d = [...da, ...db][0]!;
    await a.webhooks.record(d.id, { status: 'delivered', attempts: 1, nextAttemptAtMs: d.nextAttemptAtMs, lastStatus: 200, lastError: null, deliveredAt: new Date().toISOString() });
    expect((await b.webhooks.deliveries('wh', 10)).find((x) => x.id === d.id)).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 200 });
    expect(await b.webhooks.remove('wh')).toBe(true);
    expect(await a.webhooks.list()).toEqual([]);
  });
});

describe('redis bus', () => {
  it('wakes the other instances with the events one instance committed, not itself twice', async () => {
    const channel = `taskpulse:test:${randomBytes(6).toString('hex')}`;
    const [a, b] = [await RedisBus.connect({ url: REDIS_URL, channel }), await RedisBus.connect({ url: REDIS_URL, channel })];
    cleanups.push(() => a.close(), () => b.close());
    await Promise.all([a.ping(), b.ping()]);
    const gotA: number[] = [];
    const gotB: number[] = [];
    const arrived = new Promise<void>((resolve) =>
      b.subscribe((events) => {
        gotB.push(...seqs(events));
        if (gotB.includes(2)) resolve();
      }),
    );
    const backAtA = new Promise<void>((resolve) =>
      a.subscribe((events) => {
        gotA.push(...seqs(events));
        if (gotA.includes(3)) resolve();
      }),
    );
    const ev = (seq: number): StoredEvent => ({
      seq, type: 'task.updated', at: new Date().toISOString(), taskId: 't', owner: 'o', taskType: 'x', parentId: null, tags: ['a'], milestone: false,
      json: JSON.stringify({ seq }),
    });
    a.publish([ev(1), ev(2)]);
    expect(gotA).toEqual([1, 2]); // delivered locally at once
    await arrived;
    expect(gotB).toEqual([1, 2]);
    // Redis delivers in publish order: once B's event reached A, A's own echo has come and gone.
    b.publish([ev(3)]);
    await backAtA;
    expect(gotA).toEqual([1, 2, 3]);
    expect(gotB).toEqual([1, 2, 3]);
    await a.close();
    await a.close(); // idempotent
  });
});

describe('two server instances on one PostgreSQL and Redis', () => {
  it('shows a task created on A and run on B live on a stream opened on A, and both serve one log', async () => {
    const { url } = await freshSchema();
    const redisChannel = `taskpulse:test:${randomBytes(6).toString('hex')}`;
    const opts = { databaseUrl: url, redisUrl: REDIS_URL, redisChannel };
    const A: TestServer = await startTestServer(opts);
    cleanups.push(() => A.close());
    const B: TestServer = await startTestServer(opts);
    cleanups.push(() => B.close());
    expect((await A.api('GET', '/readyz', undefined, '')).status).toBe(200);
    expect(A.server.store.kind).toBe('postgres');

    const stream = await SseReader.open(`${A.url}/v1/stream`, ADMIN);
    cleanups.push(async () => stream.close());
    expect(stream.status).toBe(200);
    await stream.until((es) => es.some((e) => e.event === 'snapshot'));

    const type = `two_${randomBytes(3).toString('hex')}`;
    const created = await A.api('POST', '/v1/tasks', { type, owner: 'u1' });
    expect(created.status).toBe(201);
    const id = created.body.id as string;
    const claim = await B.api('POST', '/v1/tasks/claim', { types: [type], leaseMs: 60_000 });
    expect(claim.status).toBe(200);
    expect(claim.body.task.id).toBe(id);
    const lease = claim.body.lease.token as string;
    for (let done = 1; done <= 5; done++) {
      const p = await B.api('POST', `/v1/tasks/${id}/progress`, { lease, done, total: 5 });
      expect(p.status).toBe(200);
    }
    expect((await B.api('POST', `/v1/tasks/${id}/complete`, { lease, result: { ok: true } })).status).toBe(200);

    // Live on A, in order, without a gap: created, claimed, 5 reports, completed (+ its notification).
    const live = await stream.until((es) => es.some((e) => e.event === 'notification.created'));
    const events = live.filter((e) => e.event.startsWith('task.') || e.event.startsWith('notification.'));
    const ids = events.map((e) => Number(e.id));
    expect(ids).toEqual(range(1, ids.length));
    expect(events.map((e) => e.event)).toEqual([
      'task.created', ...Array<string>(6).fill('task.updated'), 'task.completed', 'notification.created',
    ]);
    const last = JSON.parse(events[7]!.data);
    expect(last.task).toMatchObject({ id, status: 'completed', result: { ok: true } });

    // Polling either instance reads the same log.
    const [fromA, fromB] = await Promise.all([A.api('GET', '/v1/events?after=0'), B.api('GET', '/v1/events?after=0')]);
    expect(fromA.status).toBe(200);
    expect(fromA.body.head).toBe(ids.length);
    expect(fromB.body).toEqual(fromA.body);
    expect(fromA.body.events.map((e: { seq: number }) => e.seq)).toEqual(ids);
    // …and what the stream carried is exactly that log.
    expect(events.map((e) => JSON.parse(e.data))).toEqual(fromA.body.events);
  }, 30_000);
});

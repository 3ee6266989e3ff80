/**
 * PostgreSQL store and Redis bus: what only several writers / instances can show. What every
 * store or bus does is in the conformance suites (`store/*.test.ts`, `bus/bus.test.ts`).
 *
 * Needs PostgreSQL (`TASKPULSE_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test)
 * and Redis (`TASKPULSE_TEST_REDIS_URL`, default redis://127.0.0.1:6379). When either is
 * unreachable these tests fail; they never skip. Each test uses its own schema and Redis channel.
 */
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { PostgresStore } from '../src/store/postgres/index.ts';
import type { NewEvent, StoredEvent, TaskRecord } from '../src/store/store.ts';
import * as model from '../src/tasks/model.ts';
import { ADMIN, SseReader, freshSchema as freshSchemaIn, resolveDeltas, startTestServer, type TestServer } from './support.ts';

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
});

/** Two server instances on a fresh schema and a Redis channel of their own (closed after the test). */
async function twoInstances(): Promise<[TestServer, TestServer]> {
  const { url } = await freshSchema();
  const opts = { databaseUrl: url, redisUrl: REDIS_URL, redisChannel: `taskpulse:test:${randomBytes(6).toString('hex')}` };
  const servers: TestServer[] = [];
  for (let i = 0; i < 2; i++) {
    const s = await startTestServer(opts);
    cleanups.push(() => s.close());
    servers.push(s);
  }
  return servers as [TestServer, TestServer];
}

describe('two server instances on one PostgreSQL and Redis', () => {
  it('shows a task created on A and run on B live on a stream opened on A, and both serve one log', async () => {
    const [A, B] = await twoInstances();
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

  it('a delta stream stays exact when both instances write the same task (each sends deltas from what it last wrote)', async () => {
    const [A, B] = await twoInstances();
    const type = `delta_${randomBytes(3).toString('hex')}`;
    const streams = await Promise.all([A, B].map((s) => SseReader.open(`${s.url}/v1/stream?type=${type}&delta=true`, ADMIN)));
    for (const st of streams) {
      cleanups.push(async () => st.close());
      await st.until((es) => es.some((e) => e.event === 'snapshot'));
    }
    const created = await A.api('POST', '/v1/tasks', { type, owner: 'u1', start: true, input: { doc: 'x'.repeat(2000) } });
    const { id } = created.body.task;
    const lease = created.body.lease.token;
    // Runs of reports on one instance, then the other: each instance's own memory of the task is
    // stale after the other wrote (its next event must not be a delta from it), and a message or
    // metadata one set is what the other's reports carry on.
    for (let done = 1; done <= 24; done++) {
      const s = Math.floor(done / 3) % 2 ? B : A;
      const p = await s.api('POST', `/v1/tasks/${id}/progress`, { lease, done, total: 24, ...(done % 5 === 0 ? { message: `m${done}` } : {}), ...(done % 7 === 0 ? { metadata: { k: done } } : {}) });
      expect(p.status).toBe(200);
    }
    expect((await B.api('POST', `/v1/tasks/${id}/complete`, { lease })).status).toBe(200);
    const log = await A.api('GET', `/v1/events?after=0&limit=500&type=${type}`);
    const head = log.body.events.at(-1).seq as number;
    for (const st of streams) {
      const got = await st.until((es) => es.some((e) => Number(e.id) === head));
      expect(got.some((e) => e.data.includes('"base":'))).toBe(true); // deltas were sent
      expect(resolveDeltas(got)).toEqual(log.body.events);
    }
  }, 30_000);

  it('streams on both instances carry every event once, in order, while both write at once', async () => {
    const servers = await twoInstances();
    const streams = await Promise.all(servers.map((s) => SseReader.open(`${s.url}/v1/stream`, ADMIN)));
    for (const st of streams) {
      cleanups.push(async () => st.close());
      await st.until((es) => es.some((e) => e.event === 'snapshot'));
    }
    // Each instance runs tasks of its own: their commits interleave in the log, so each instance's
    // own events often reach its hub before the other's that precede them (a gap it fills).
    const type = `both_${randomBytes(3).toString('hex')}`;
    await Promise.all(
      [0, 1, 2, 3].map(async (k) => {
        const s = servers[k % 2]!;
        const created = await s.api('POST', '/v1/tasks', { type, owner: `u${k}`, start: true });
        expect(created.status).toBe(201);
        for (let done = 1; done <= 25; done++) {
          const p = await s.api('POST', `/v1/tasks/${created.body.task.id}/progress`, { lease: created.body.lease.token, done, total: 25 });
          expect(p.status).toBe(200);
        }
      }),
    );
    const log = await servers[0]!.api('GET', '/v1/events?after=0&limit=500');
    const head = log.body.head as number;
    expect(head).toBe(4 * 26);
    for (const st of streams) {
      const got = (await st.until((es) => es.some((e) => Number(e.id) === head))).filter((e) => e.event.startsWith('task.'));
      expect(got.map((e) => Number(e.id))).toEqual(range(1, head));
      expect(got.map((e) => JSON.parse(e.data))).toEqual(log.body.events);
    }
  }, 30_000);
});

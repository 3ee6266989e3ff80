/**
 * SQLite writes the log's per-task and per-owner keys in bulk (store/sqlite/event-keys.ts): a
 * filtered read takes the keyed part through them and the tail by seq. With a tiny key batch, every
 * read below crosses that boundary somewhere; each must give exactly what the in-memory matcher
 * selects from everything appended — from any cursor, at any limit, after a restart and after
 * pruning. The engine-neutral suites (events.test.ts, filters.test.ts) check the rest.
 */
import Database from 'better-sqlite3';
import { expect, it } from 'vitest';
import { matches } from '../../src/stream/event-filter.ts';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import type { EventFilter, StoredEvent, TaskRecord } from '../../src/store/store.ts';
import { seededRandom } from '../../../../test-support/seeded-random.ts';
import { event, sqliteFile, task } from './engines.ts';

const SEED = Number(process.env.TASKPULSE_TEST_SEED ?? 20261202);
const KEY_BATCH = 7;

it(`reads a task's or an owner's events across the keyed part and the tail (seed ${SEED})`, async () => {
  const next = seededRandom(SEED);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const file = sqliteFile();
  const owners = ['alice', 'bob', "o'neil"];
  const tasks: TaskRecord[] = Array.from({ length: 12 }, (_, i) => task(`t${i}`, i % 2 ? 'pdf' : 'csv', { owner: pick(owners) }));
  let store = new SqliteStore({ file, keyBatch: KEY_BATCH });
  const stored: StoredEvent[] = [];
  const append = async (n: number) => {
    // Batches of 1–5 events: the keys are written inside some of them, leaving a tail of 0–6.
    for (let left = n; left > 0; ) {
      const size = Math.min(left, 1 + Math.floor(next() * 5));
      left -= size;
      stored.push(...(await store.write(async (tx) => {
        const out: StoredEvent[] = [];
        for (let i = 0; i < size; i++) {
          const t = pick(tasks);
          out.push(await tx.appendEvent(next() < 0.1 ? event(t, pick(owners)) : event(t)));
        }
        return out;
      })));
    }
  };
  const peek = new Database(file, { readonly: true, fileMustExist: false });
  const keyedNow = () => (peek.prepare("SELECT v FROM meta WHERE k = 'keyed'").pluck().get() as number | undefined) ?? 0;
  /** Reads with a tail past the keys (the boundary is inside the read's range). */
  let crossing = 0;
  const check = async (label: string) => {
    const first = stored[0]!.seq - 1;
    const head = stored[stored.length - 1]!.seq;
    const keyed = keyedNow();
    for (let i = 0; i < 30; i++) {
      const f: EventFilter = {};
      const kind = i % 4;
      if (kind === 0) f.taskId = pick([...tasks.map((t) => t.id), 'missing']);
      if (kind === 1) f.owner = pick([...owners, 'nobody']);
      if (kind === 2) f.taskIds = [pick(tasks).id, pick(tasks).id];
      if (kind === 3) Object.assign(f, { owner: pick(owners), taskId: pick(tasks).id });
      if (next() < 0.3) f.type = pick(['pdf', 'csv']);
      const after = first + Math.floor(next() * (head - first + 1));
      const limit = 1 + Math.floor(next() * 40);
      const wanted = stored.filter((e) => e.seq > after && matches(e, f)).slice(0, limit);
      const got = await store.events.read(after, f, limit);
      if (after < keyed && keyed < head) crossing++;
      const where = `${label}: after ${after}, limit ${limit}, filter ${JSON.stringify(f)} (seed ${SEED})`;
      expect(got.head, where).toBe(head);
      expect(got.events.map((e) => e.seq), where).toEqual(wanted.map((e) => e.seq));
      expect(got.events.map((e) => e.json), where).toEqual(wanted.map((e) => e.json));
    }
  };

  for (let round = 0; round < 10; round++) {
    await append(1 + Math.floor(next() * 40));
    await check(`round ${round}`);
  }
  await store.close();
  store = new SqliteStore({ file, keyBatch: KEY_BATCH });
  await check('after a restart');
  await append(40);
  await check('after a restart and more events');
  await store.events.prune(Date.parse(stored[Math.floor(stored.length / 2)]!.at) + 1); // same-millisecond neighbours may go too
  const floor = await store.events.floor();
  stored.splice(0, stored.findIndex((e) => e.seq > floor));
  await check('after pruning');
  await store.close();
  peek.close();
  expect(crossing).toBeGreaterThan(50);

  // The keys were written (the keyed path ran), cover a committed stretch and lost the pruned seqs.
  const db = new Database(file, { readonly: true });
  try {
    const keyed = db.prepare("SELECT v FROM meta WHERE k = 'keyed'").pluck().get() as number;
    expect(keyed).toBeGreaterThan(stored[0]!.seq);
    expect(keyed).toBeLessThanOrEqual(stored[stored.length - 1]!.seq);
    const keys = db.prepare('SELECT min(s) AS lo, max(s) AS hi, count(*) AS n FROM events_by_task').get() as { lo: number; hi: number; n: number };
    expect(keys.lo).toBeGreaterThan(floor);
    expect(keys.hi).toBe(keyed);
    expect(keys.n).toBe(stored.filter((e) => e.seq <= keyed).length);
    expect(db.prepare('SELECT count(*) FROM events_by_owner WHERE s <= ?').pluck().get(floor)).toBe(0);
  } finally {
    db.close();
  }
});

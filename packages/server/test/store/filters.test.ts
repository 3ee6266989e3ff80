/**
 * Property test: on every engine, the SQL filters select exactly what the in-memory matcher
 * (`stream/event-filter.ts`) selects — events read with an `EventFilter`, and tasks listed,
 * counted and snapshotted with the task filter a reader's `EventFilter` becomes (`snapshotFilter`).
 * Random logs and filters from a seeded generator (`TASKPULSE_TEST_SEED` replays one); values
 * include SQL and JSON specials (`%`, `_`, quotes, backslashes, non-ASCII) and empty lists.
 */
import { expect, it } from 'vitest';
import { EVENT_TYPES, TASK_STATUSES, type EventType } from '@taskpulse/protocol';
import { matches, snapshotFilter } from '../../src/stream/event-filter.ts';
import type { EventFilter, NewEvent, StoredEvent, TaskRecord } from '../../src/store/store.ts';
import { seededRandom } from '../../../../test-support/seeded-random.ts';
import { describeStores, task } from './engines.ts';

const SEED = Number(process.env.TASKPULSE_TEST_SEED ?? 20261202);
const TASKS = 40;
const EVENTS = 240;
const FILTERS = 300;

/** Random choices from a seeded generator, so a failing case can be replayed. */
function generator(seed: number) {
  const next = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const some = <T>(xs: readonly T[], max: number): T[] => [...new Set(Array.from({ length: Math.floor(next() * (max + 1)) }, () => pick(xs)))];
  return { next, pick, some, chance: (p: number) => next() < p };
}

const OWNERS = ['alice', 'bob', "o'neil", 'ünï'];
const TYPES = ['pdf', 'csv', 'p%f', 'c_v'];
const TAGS = ['a', 'b', 'a%', '_', 'say "hi"', 'back\\slash', 'é'];
const IDS = Array.from({ length: TASKS }, (_, i) => `t${i}`);

interface World {
  tasks: TaskRecord[];
  events: NewEvent[];
  filters: EventFilter[];
}

function world(seed: number): World {
  const g = generator(seed);
  const tasks = IDS.map((id, i) =>
    task(id, g.pick(TYPES), {
      owner: g.pick(OWNERS),
      parentId: i > 0 && g.chance(0.4) ? g.pick(IDS.slice(0, i)) : null,
      tags: g.some(TAGS, 3),
      status: g.pick(TASK_STATUSES),
    }),
  );
  const events = Array.from({ length: EVENTS }, (): NewEvent => {
    // Some events belong to no task (their task fields are null).
    const t = g.chance(0.9) ? g.pick(tasks) : null;
    return {
      type: g.pick(EVENT_TYPES), at: new Date().toISOString(), owner: t && g.chance(0.9) ? t.owner : g.pick(OWNERS),
      taskId: t?.id ?? null, taskType: t?.type ?? null, parentId: t?.parentId ?? null, tags: t?.tags ?? [], milestone: g.chance(0.2),
      body: (seq) => ({ n: seq }),
    };
  });
  const filters = Array.from({ length: FILTERS }, (): EventFilter => {
    const f: EventFilter = {};
    if (g.chance(0.3)) f.owner = g.pick([...OWNERS, 'nobody']);
    if (g.chance(0.25)) f.taskIds = g.some([...IDS, 'missing'], 4); // may be empty: selects nothing
    if (g.chance(0.2)) f.taskId = g.pick([...IDS, 'missing']);
    if (g.chance(0.3)) f.type = g.pick([...TYPES, 'none']);
    if (g.chance(0.25)) f.parentId = g.pick([...IDS.slice(0, 5), 'missing']);
    if (g.chance(0.3)) f.tag = g.pick([...TAGS, 'A', '%']);
    if (g.chance(0.3)) f.events = g.some<EventType>(EVENT_TYPES, 3);
    return f;
  });
  return { tasks, events, filters };
}

/** The event a task's own change would carry: what the matcher sees of the task. */
const eventOf = (t: TaskRecord): StoredEvent => ({
  seq: 0, type: 'task.updated', at: t.createdAt, taskId: t.id, owner: t.owner, taskType: t.type, parentId: t.parentId, tags: t.tags, milestone: false, json: '',
});

describeStores('store filters (property)', (engine) => {
  it(`select what the in-memory matcher selects (seed ${SEED})`, async () => {
    const store = await engine().open();
    const w = world(SEED);
    await store.write(async (tx) => {
      for (const t of w.tasks) await tx.insertTask(t);
    });
    const stored: StoredEvent[] = [];
    for (let i = 0; i < w.events.length; i += 60) {
      stored.push(...(await store.write(async (tx) => {
        const out: StoredEvent[] = [];
        for (const e of w.events.slice(i, i + 60)) out.push(await tx.appendEvent(e));
        return out;
      })));
    }
    const ids = (ts: readonly TaskRecord[]) => ts.map((t) => t.id).sort();
    for (const f of w.filters) {
      const where = `filter ${JSON.stringify(f)} (seed ${SEED})`;
      const wanted = stored.filter((e) => matches(e, f)).map((e) => e.seq);
      expect((await store.events.read(0, f, EVENTS + 1)).events.map((e) => e.seq), where).toEqual(wanted);

      // The task side: a reader's filter without its event types, as snapshots and lists apply it.
      const taskSide = { ...f, events: undefined };
      const tasksWanted = w.tasks.filter((t) => matches(eventOf(t), taskSide));
      const tf = snapshotFilter(f);
      expect(ids((await store.tasks.list(tf, TASKS + 1, null)).items), where).toEqual(ids(tasksWanted));
      const counts = Object.fromEntries(TASK_STATUSES.map((s) => [s, tasksWanted.filter((t) => t.status === s).length]));
      expect(await store.tasks.count(tf), where).toEqual(counts);
      const active = tasksWanted.filter((t) => t.status === 'queued' || t.status === 'running');
      expect(ids((await store.tasks.snapshot(tf, TASKS + 1)).tasks), where).toEqual(ids(active));
    }
  }, 120_000);
});

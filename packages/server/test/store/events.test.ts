/** The `events` sub-store on every engine: the log read back, filtered, pruned, its head and floor. */
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import { PG_URL, pgAdmin } from '../support.ts';
import type { NewEvent, Store, TaskRecord } from '../../src/store/store.ts';
import { describeStores, event, sqliteFile, task } from './engines.ts';

describeStores('store events', (engine) => {
  it('reads back from the log exactly the events sent live, across undone units, pruning and a restart', async () => {
    const e = engine();
    let store = await e.open();
    const live = new Map<number, unknown>();
    const listen = (s: Store) => s.onCommit((events) => events.forEach((ev) => live.set(ev.seq, JSON.parse(ev.json))));
    listen(store);
    const base = { ...task('c'), input: { blob: 'i'.repeat(10_000) } };
    await store.write((tx) => tx.insertTask(base));
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    const report = (s: Store, n: number, over: Partial<TaskRecord> = {}, ev: Partial<NewEvent> = {}, fail = false) =>
      s.write(async (tx) => {
        const t = { ...(await tx.getTask('c'))!, done: n, total: 100, message: `m${n}`, ...over };
        await tx.appendEvent({ ...event(t), ...ev });
        await tx.updateTask(t);
        if (fail) throw new Error('undone');
      });
    for (let n = 1; n <= 4; n++) await report(store, n, {}, { at: hourAgo }); // old: pruned below
    for (let n = 5; n <= 12; n++) await report(store, n, n === 8 ? { metadata: { note: 'z'.repeat(2000) } } : {}, { milestone: n === 10 });
    await report(store, 13, {}, {}, true).catch(() => {});
    await report(store, 14);
    const readAll = async (s: Store) => new Map((await s.events.read(0, {}, 100)).events.map((ev) => [ev.seq, JSON.parse(ev.json) as unknown]));
    expect([...(await readAll(store)).entries()]).toEqual([...live.entries()]);
    expect(await store.events.prune(Date.now() - 60_000)).toBe(4);
    for (let seq = 1; seq <= 4; seq++) live.delete(seq);
    expect([...(await readAll(store)).entries()]).toEqual([...live.entries()]);
    await store.close();

    store = await e.open();
    listen(store);
    await report(store, 15);
    await report(store, 16);
    expect([...(await readAll(store)).entries()]).toEqual([...live.entries()]);
    expect(live.size).toBe(11); // seqs 5–15: the undone unit gave its number back
  });

  it('prunes old events but keeps the head, and reports the floor', async () => {
    const store = await engine().open();
    await store.write((tx) => tx.insertTask(task('p')));
    const t = (await store.tasks.get('p'))!;
    const old = { ...event(t), at: new Date(Date.now() - 3600_000).toISOString() };
    for (let i = 0; i < 5; i++) await store.write((tx) => tx.appendEvent(old));
    await store.write((tx) => tx.appendEvent(event(t)));
    expect(await store.events.prune(Date.now() - 60_000)).toBe(5);
    expect(await store.events.floor()).toBe(5);
    expect((await store.events.read(0, {}, 10)).events.map((ev) => ev.seq)).toEqual([6]);
  });

  it('filters by owner and tag, reads an empty log as head 0 and floor 0', async () => {
    const e = engine();
    const a = await e.open();
    const b = e.shared ? await e.open() : a; // another instance where the engine has several
    expect(await b.events.read(0, {}, 10)).toEqual({ events: [], head: 0 });
    expect(await b.events.head()).toBe(0);
    expect(await b.events.floor()).toBe(0);
    await a.write(async (tx) => {
      for (let i = 0; i < 5; i++) await tx.insertTask(task(`t${i}`, i % 2 ? 'odd' : 'even', { tags: i === 2 ? ['vip'] : [] }));
    });
    const t2 = (await a.tasks.get('t2'))!;
    await a.write(async (tx) => {
      await tx.appendEvent(event(t2, 'alice'));
      await tx.appendEvent(event(t2, 'bob'));
    });
    expect((await b.events.read(0, { owner: 'bob' }, 10)).events.map((ev) => [ev.seq, ev.owner])).toEqual([[2, 'bob']]);
    expect((await b.events.read(0, { tag: 'vip' }, 10)).events).toHaveLength(2);
    expect(await b.events.floor()).toBe(0);
    // `head` is the log's, whatever the filter matched.
    expect(await b.events.read(0, { owner: 'nobody' }, 10)).toEqual({ events: [], head: 2 });
    expect((await b.events.read(1, {}, 10)).events.map((ev) => ev.seq)).toEqual([2]);
    expect((await b.events.read(0, {}, 1)).events.map((ev) => ev.seq)).toEqual([1]);
  });
});

describe('store events: sqlite log size', () => {
  it('stores a progress event in a few hundred bytes whatever the size of the task', async () => {
    const file = sqliteFile();
    const store = new SqliteStore({ file });
    const t = { ...task('big'), input: { blob: 'i'.repeat(100_000) }, metadata: { m: 'x'.repeat(10_000) } };
    await store.write((tx) => tx.insertTask(t));
    for (let n = 1; n <= 50; n++) {
      await store.write(async (tx) => {
        const cur = { ...(await tx.getTask('big'))!, done: n, total: 50, message: `page ${n} of 50` };
        await tx.appendEvent(event(cur));
        await tx.updateTask(cur);
      });
    }
    await store.close();
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT length(json) AS n FROM events ORDER BY seq').pluck().all() as number[];
    const versions = db.prepare('SELECT count(*) FROM task_versions').pluck().get();
    db.close();
    expect(versions).toBe(1); // the first event; every later one is a diff against it
    expect(Math.max(...rows.slice(1))).toBeLessThan(200);
  });
});

describe('store events: postgres compact log', () => {
  const schemas: string[] = [];
  const stores: Store[] = [];
  afterEach(async () => {
    for (const s of stores.splice(0)) await s.close();
    for (const schema of schemas.splice(0)) await pgAdmin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  });
  const open = async (schema: string) => {
    const s = await PostgresStore.open({ connectionString: PG_URL, schema });
    stores.push(s);
    return s;
  };
  const newSchema = () => {
    const schema = `tp_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return schema;
  };
  const rowsOf = async (schema: string, sql: string) => {
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    try {
      return (await c.query(sql.replaceAll('$schema', `"${schema}"`))).rows;
    } finally {
      await c.end();
    }
  };
  const report = (s: Store, id: string, n: number, at = new Date().toISOString()) =>
    s.write(async (tx) => {
      const cur = { ...(await tx.getTask(id))!, done: n, total: 50, message: `page ${n} of 50` };
      await tx.appendEvent({ ...event(cur), at });
      await tx.updateTask(cur);
    });

  it('stores a progress event in a few hundred bytes whatever the size of the task', async () => {
    const schema = newSchema();
    const store = await open(schema);
    const t = { ...task('big'), input: { blob: 'i'.repeat(100_000) }, metadata: { m: 'x'.repeat(10_000) } };
    await store.write((tx) => tx.insertTask(t));
    for (let n = 1; n <= 50; n++) await report(store, 'big', n);
    const rows = (await rowsOf(schema, 'SELECT length(json) AS n FROM $schema.events ORDER BY seq')).map((r) => r.n as number);
    const versions = await rowsOf(schema, 'SELECT count(*)::int AS n FROM $schema.task_versions');
    expect(versions[0]!.n).toBe(1); // the first event; every later one is a diff against it
    expect(Math.max(...rows.slice(1))).toBeLessThan(200);
  });

  it('two instances: each reads the other’s compact events whole, and pruning keeps every version still referred to or reusable', async () => {
    const schema = newSchema();
    const a = await open(schema);
    const b = await open(schema);
    const live = new Map<number, unknown>();
    for (const s of [a, b]) s.onCommit((events) => events.forEach((ev) => live.set(ev.seq, JSON.parse(ev.json))));
    await a.write((tx) => tx.insertTask({ ...task('c'), input: { blob: 'i'.repeat(5000) } }));
    const hourAgo = new Date(Date.now() - 3600_000).toISOString();
    for (let n = 1; n <= 3; n++) await report(n % 2 ? a : b, 'c', n, hourAgo); // old: pruned below
    for (let n = 4; n <= 12; n++) await report(n % 2 ? a : b, 'c', n);
    const readAll = async (s: Store) => [...new Map((await s.events.read(0, {}, 100)).events.map((ev) => [ev.seq, JSON.parse(ev.json) as unknown]))];
    expect(await readAll(a)).toEqual([...live]);
    expect(await readAll(b)).toEqual([...live]);
    expect(await a.events.prune(Date.now() - 60_000)).toBe(3);
    for (let seq = 1; seq <= 3; seq++) live.delete(seq);
    // Both instances go on diffing against the versions they hold.
    for (let n = 13; n <= 16; n++) await report(n % 2 ? a : b, 'c', n);
    expect(await readAll(b)).toEqual([...live]);
    expect(await readAll(a)).toEqual([...live]);
    const bases = await rowsOf(schema, 'SELECT count(*)::int AS n FROM $schema.events WHERE base IS NOT NULL AND base <> seq');
    expect(bases[0]!.n).toBeGreaterThan(0);
  });
});

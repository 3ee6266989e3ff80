/**
 * The storage engines the conformance suites run on, picked by an environment list (as Kysely's
 * test setup does): `TASKPULSE_TEST_STORES=sqlite,postgres` (the default: both). PostgreSQL is
 * `TASKPULSE_TEST_DATABASE_URL` (default postgres://postgres@127.0.0.1:5432/test); every test gets
 * a schema of its own (a SQLite file of its own), dropped after it, so test files running in
 * parallel never meet. An unreachable PostgreSQL fails these tests: it does not skip them.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite/index.ts';
import { PostgresStore } from '../../src/store/postgres/index.ts';
import type { NewEvent, Store, TaskRecord } from '../../src/store/store.ts';
import * as model from '../../src/tasks/model.ts';
import { PG_URL, pgAdmin } from '../support.ts';

export type EngineName = 'sqlite' | 'postgres';

const ALL: readonly EngineName[] = ['sqlite', 'postgres'];

/** The engines this run tests (`TASKPULSE_TEST_STORES`), validated: a typo fails instead of testing nothing. */
export const ENGINES: readonly EngineName[] = (() => {
  const list = (process.env.TASKPULSE_TEST_STORES ?? ALL.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const name of list) {
    if (!ALL.includes(name as EngineName)) throw new Error(`TASKPULSE_TEST_STORES: unknown store "${name}" (known: ${ALL.join(', ')})`);
  }
  if (list.length === 0) throw new Error('TASKPULSE_TEST_STORES names no store');
  return list as EngineName[];
})();

/** One test's storage: a namespace of its own (a file, a schema). */
export interface TestEngine {
  readonly name: EngineName;
  /**
   * Whether several stores may have the namespace open at once, as several server instances do
   * (PostgreSQL; a SQLite file has one writing process).
   */
  readonly shared: boolean;
  /** Opens a store on this test's namespace (again after a close: the data is still there). Closed after the test. */
  open(): Promise<Store>;
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  const errors: unknown[] = [];
  for (const c of cleanups.splice(0).reverse()) await c().catch((e: unknown) => errors.push(e));
  if (errors.length > 0) throw errors[0];
});

/** A SQLite file of this test's own (its folder is removed after the test), for tests that look inside it. */
export function sqliteFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'taskpulse-store-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 's.db');
}

export function testEngine(name: EngineName): TestEngine {
  const opened = (store: Store) => {
    cleanups.push(() => store.close());
    return store;
  };
  if (name === 'sqlite') {
    const file = sqliteFile();
    return { name, shared: false, open: async () => opened(new SqliteStore({ file })) };
  }
  const schema = `tp_${randomBytes(6).toString('hex')}`;
  cleanups.push(() => pgAdmin(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`));
  return { name, shared: true, open: async () => opened(await PostgresStore.open({ connectionString: PG_URL, schema })) };
}

/** A suite run once per engine of `ENGINES`; `engine()` gives each test a fresh namespace. */
export function describeStores(title: string, body: (engine: () => TestEngine, name: EngineName) => void): void {
  for (const name of ENGINES) describe(`${title}: ${name}`, () => body(() => testEngine(name), name));
}

// ------------------------------------------------------------ records the suites write

export const task = (id: string, type = 'x', extra: Partial<TaskRecord> = {}): TaskRecord => ({
  ...model.newTask({ type, owner: 'o' }, id, Date.now(), null),
  ...extra,
});

export const event = (t: TaskRecord, owner = t.owner): NewEvent => ({
  type: 'task.updated', at: new Date().toISOString(), owner, taskId: t.id, taskType: t.type, parentId: t.parentId, tags: t.tags, milestone: false,
  body: (seq) => ({ task: { ...t, seq } }),
});

/**
 * SQLite: tasks as stored — the reads both engines share (sql.ts) on the reader connection, and
 * the stream's snapshot, read in one transaction with the head. Reads see committed data only.
 */
import type Database from 'better-sqlite3';
import { Params, SqlTaskReads, positionOf, queuePositionQuery, taskWhere, type Row } from '../sql.ts';
import type { TaskFilter, TaskRecord, TaskStore } from '../store.ts';
import { SQLITE } from './dialect.ts';
import { TaskDocs } from './task-docs.ts';

/** Runs one query on `db`. */
export const runOn = (db: Database.Database) => (sql: string, values: unknown[]) => db.prepare(sql).all(...values) as Row[];

export class SqliteTasks extends SqlTaskReads implements TaskStore {
  readonly #reader: Database.Database;
  readonly #head: () => number;
  readonly #docs: TaskDocs;

  /** `head` reads the log's head on `reader` (the snapshot reads it in the same transaction). */
  constructor(reader: Database.Database, head: () => number) {
    super(SQLITE, runOn(reader));
    this.#reader = reader;
    this.#head = head;
    this.#docs = new TaskDocs(reader);
  }

  protected override parse(doc: unknown): TaskRecord | null {
    return this.#docs.parse(doc);
  }

  async snapshot(filter: TaskFilter, limit: number): Promise<{ head: number; tasks: TaskRecord[] }> {
    return this.#reader.transaction(() => {
      const head = this.#head();
      const p = new Params(SQLITE);
      const where = taskWhere({ ...filter, statuses: filter.statuses ?? ['queued', 'running'] }, p);
      const docs = this.#reader
        .prepare(`SELECT doc FROM tasks WHERE ${where.join(' AND ')} ORDER BY n DESC LIMIT ${p.add(limit)}`)
        .pluck()
        .all(...p.values) as string[];
      return { head, tasks: docs.map((d) => this.#docs.parse(d)!) };
    })();
  }
}

/** The queue position on `db` (the write connection inside a unit of work), synchronously. */
export function queuePosition(db: Database.Database, t: TaskRecord): number {
  const p = new Params(SQLITE);
  const sql = queuePositionQuery(t, p);
  return positionOf(runOn(db)(sql, p.values));
}

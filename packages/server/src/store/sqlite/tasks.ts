/**
 * SQLite: tasks as stored — the reads both engines share (sql.ts) on the reader connection, and
 * the stream's snapshot, read in one transaction with the head. Reads see committed data only.
 */
import type Database from 'better-sqlite3';
import { Params, SqlTaskReads, positionOf, queuePositionQuery, taskWhere, type Row } from '../sql.ts';
import type { TaskStatus } from '@taskpulse/protocol';
import type { Page, TaskFilter, TaskRecord, TaskStore } from '../store.ts';
import type { SortSpec } from '../task-sort.ts';
import { SQLITE } from './dialect.ts';
import { TaskDocs } from './task-docs.ts';
import { prepared } from './statements.ts';
import type { DeferredRows } from './deferred-rows.ts';

/** Runs one query on `db`. */
export const runOn = (db: Database.Database) => (sql: string, values: unknown[]) => prepared(db, sql).pluck(false).all(...values) as Row[];

export class SqliteTasks extends SqlTaskReads implements TaskStore {
  readonly #reader: Database.Database;
  readonly #head: () => number;
  readonly #docs: TaskDocs;
  readonly #rows: DeferredRows;
  readonly #writeDeferred: () => Promise<void>;

  /**
   * `head` reads the log's head on `reader` (the snapshot reads it in the same transaction);
   * `rows` are the rows the write path has not written yet (deferred-rows.ts), which
   * `writeDeferred` writes.
   */
  constructor(reader: Database.Database, head: () => number, rows: DeferredRows, writeDeferred: () => Promise<void>) {
    super(SQLITE, runOn(reader));
    this.#reader = reader;
    this.#head = head;
    this.#docs = new TaskDocs(reader);
    this.#rows = rows;
    this.#writeDeferred = writeDeferred;
  }

  /** A row as its committed record: a task whose row is behind is read from memory. */
  protected override parse(doc: unknown): TaskRecord | null {
    const rec = this.#docs.parse(doc);
    return rec === null ? null : (this.#rows.committed(rec.id) ?? rec);
  }

  /** A search (`q`) looks in the rows' text (messages, metadata): rows behind are written first. */
  async #searchable(filter: TaskFilter): Promise<void> {
    // Should that write fail (a full disk), the search still answers, on rows up to 1 s behind.
    if (filter.q !== undefined && this.#rows.size > 0) await this.#writeDeferred().catch(() => {});
  }

  override async list(filter: TaskFilter, limit: number, cursor: string | null, sort?: SortSpec): Promise<Page<TaskRecord>> {
    await this.#searchable(filter);
    return super.list(filter, limit, cursor, sort);
  }

  override async count(filter: TaskFilter): Promise<Record<TaskStatus, number>> {
    await this.#searchable(filter);
    return super.count(filter);
  }

  async snapshot(filter: TaskFilter, limit: number): Promise<{ head: number; tasks: TaskRecord[] }> {
    await this.#searchable(filter);
    return this.#reader.transaction(() => {
      const head = this.#head();
      const p = new Params(SQLITE);
      const where = taskWhere({ ...filter, statuses: filter.statuses ?? ['queued', 'running'] }, p);
      const docs = prepared(this.#reader, `SELECT doc FROM tasks WHERE ${where.join(' AND ')} ORDER BY n DESC LIMIT ${p.add(limit)}`)
        .pluck(true)
        .all(...p.values) as string[];
      return { head, tasks: docs.map((d) => this.parse(d)!) };
    })();
  }
}

/** The queue position on `db` (the write connection inside a unit of work), synchronously. */
export function queuePosition(db: Database.Database, t: TaskRecord): number {
  const p = new Params(SQLITE);
  const sql = queuePositionQuery(t, p);
  return positionOf(runOn(db)(sql, p.values));
}

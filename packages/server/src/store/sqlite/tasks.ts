/** SQLite: tasks as stored — lookups, pages, counts, the stream's snapshot, task logs. Reads see committed data only. */
import type Database from 'better-sqlite3';
import type { LogLevel, TaskStatus } from '@taskpulse/protocol';
import { parseDoc } from '../records.ts';
import { Params, countQuery, queuePositionQuery, statusCountsOf, taskPage, taskPageQuery, taskWhere, type Row } from '../sql.ts';
import { DEFAULT_SORT, type SortSpec } from '../task-sort.ts';
import type { Page, TaskFilter, TaskRecord, TaskStore } from '../store.ts';
import { SQLITE } from './dialect.ts';

export class SqliteTasks implements TaskStore {
  readonly #reader: Database.Database;
  readonly #head: () => number;

  /** `head` reads the log's head on `reader` (the snapshot reads it in the same transaction). */
  constructor(reader: Database.Database, head: () => number) {
    this.#reader = reader;
    this.#head = head;
  }

  async get(id: string): Promise<TaskRecord | null> {
    return parseDoc(this.#reader.prepare('SELECT doc FROM tasks WHERE id = ?').pluck().get(id));
  }

  async list(filter: TaskFilter, limit: number, cursor: string | null, sort: SortSpec = DEFAULT_SORT): Promise<Page<TaskRecord>> {
    const p = new Params(SQLITE);
    const sql = taskPageQuery(filter, limit, cursor, sort, p);
    return taskPage(this.#reader.prepare(sql).all(...p.values) as Row[], limit, sort);
  }

  async queuePosition(task: TaskRecord): Promise<number> {
    return queuePosition(this.#reader, task);
  }

  async countByStatus(type?: string): Promise<Record<TaskStatus, number>> {
    return this.count(type !== undefined ? { type } : {});
  }

  async count(filter: TaskFilter): Promise<Record<TaskStatus, number>> {
    const p = new Params(SQLITE);
    const sql = countQuery({ ...filter, statuses: undefined }, p);
    return statusCountsOf(this.#reader.prepare(sql).all(...p.values) as Row[]);
  }

  async countByTypeAndStatus(): Promise<{ type: string; status: TaskStatus; count: number }[]> {
    return this.#reader.prepare('SELECT type, status, count(*) AS count FROM tasks GROUP BY type, status').all() as {
      type: string; status: TaskStatus; count: number;
    }[];
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
      return { head, tasks: docs.map((d) => JSON.parse(d) as TaskRecord) };
    })();
  }

  async logs(taskId: string, after: number, limit: number): Promise<{ seq: number; at: string; level: LogLevel; message: string }[]> {
    return this.#reader
      .prepare('SELECT seq, at, level, message FROM logs WHERE task_id = ? AND seq > ? ORDER BY seq LIMIT ?')
      .all(taskId, after, limit) as { seq: number; at: string; level: LogLevel; message: string }[];
  }
}

/** The queue position on `db` (the reader, or the write connection inside a unit of work). */
export function queuePosition(db: Database.Database, t: TaskRecord): number {
  const p = new Params(SQLITE);
  const sql = queuePositionQuery(t, p);
  return (db.prepare(sql).get(...p.values) as { c: number }).c + 1;
}

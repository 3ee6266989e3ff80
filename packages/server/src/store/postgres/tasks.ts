/** PostgreSQL: tasks as stored — lookups, pages, counts, the stream's snapshot, task logs. */
import type { LogLevel, TaskStatus } from '@taskpulse/protocol';
import { parseDoc } from '../records.ts';
import { Params, countQuery, queuePositionQuery, statusCountsOf, taskPage, taskPageQuery, taskWhere, whereSql, type Row } from '../sql.ts';
import { DEFAULT_SORT, type SortSpec } from '../task-sort.ts';
import type { Page, TaskFilter, TaskRecord, TaskStore } from '../store.ts';
import { POSTGRES } from './dialect.ts';

/** A statement on the pool (after the migrations): committed data only. */
export type PgRead = (sql: string, params?: unknown[]) => Promise<Row[]>;

export class PostgresTasks implements TaskStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    this.#read = read;
  }

  async get(id: string): Promise<TaskRecord | null> {
    return parseDoc((await this.#read('SELECT doc FROM tasks WHERE id = $1', [id]))[0]?.doc);
  }

  async list(filter: TaskFilter, limit: number, cursor: string | null, sort: SortSpec = DEFAULT_SORT): Promise<Page<TaskRecord>> {
    const p = new Params(POSTGRES);
    const sql = taskPageQuery(filter, limit, cursor, sort, p);
    return taskPage(await this.#read(sql, p.values), limit, sort);
  }

  async queuePosition(task: TaskRecord): Promise<number> {
    return queuePosition(this.#read, task);
  }

  async countByStatus(type?: string): Promise<Record<TaskStatus, number>> {
    return this.count(type !== undefined ? { type } : {});
  }

  async count(filter: TaskFilter): Promise<Record<TaskStatus, number>> {
    const p = new Params(POSTGRES);
    const sql = countQuery({ ...filter, statuses: undefined }, p);
    return statusCountsOf(await this.#read(sql, p.values));
  }

  async countByTypeAndStatus(): Promise<{ type: string; status: TaskStatus; count: number }[]> {
    return (await this.#read('SELECT type, status, count(*) AS count FROM tasks GROUP BY type, status')) as {
      type: string; status: TaskStatus; count: number;
    }[];
  }

  async snapshot(filter: TaskFilter, limit: number): Promise<{ head: number; tasks: TaskRecord[] }> {
    // One statement is one snapshot: the tasks and the head they are consistent with.
    const p = new Params(POSTGRES);
    const where = taskWhere({ ...filter, statuses: filter.statuses ?? ['queued', 'running'] }, p);
    const rows = await this.#read(
      `SELECT m.head, t.doc FROM taskpulse_meta m LEFT JOIN LATERAL (
         SELECT n, doc FROM tasks ${whereSql(where)} ORDER BY n DESC LIMIT ${p.add(limit)}
       ) t ON true WHERE m.id = 1 ORDER BY t.n DESC`,
      p.values,
    );
    return {
      head: (rows[0]?.head as number | undefined) ?? 0,
      tasks: rows.filter((r) => r.doc !== null).map((r) => JSON.parse(r.doc as string) as TaskRecord),
    };
  }

  async logs(taskId: string, after: number, limit: number): Promise<{ seq: number; at: string; level: LogLevel; message: string }[]> {
    return (await this.#read('SELECT seq, at, level, message FROM logs WHERE task_id = $1 AND seq > $2 ORDER BY seq LIMIT $3', [
      taskId, after, limit,
    ])) as { seq: number; at: string; level: LogLevel; message: string }[];
  }
}

/** The queue position through `read` (the pool, or the batch's transaction inside a unit of work). */
export async function queuePosition(read: PgRead, t: TaskRecord): Promise<number> {
  const p = new Params(POSTGRES);
  const sql = queuePositionQuery(t, p);
  return ((await read(sql, p.values))[0]!.c as number) + 1;
}

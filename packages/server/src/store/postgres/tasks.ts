/**
 * PostgreSQL: tasks as stored — the reads both engines share (sql.ts) on the pool, and the
 * stream's snapshot, read in one statement with the head.
 */
import { Params, SqlTaskReads, taskWhere, whereSql, type Row } from '../sql.ts';
import type { TaskFilter, TaskRecord, TaskStore } from '../store.ts';
import { POSTGRES } from './dialect.ts';

/** A statement on the pool (after the migrations): committed data only. */
export type PgRead = (sql: string, params?: unknown[]) => Promise<Row[]>;

export class PostgresTasks extends SqlTaskReads implements TaskStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    super(POSTGRES, read);
    this.#read = read;
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
}

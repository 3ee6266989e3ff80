/**
 * PostgreSQL: tasks as stored — the reads both engines share (sql.ts) on the pool, and the
 * stream's snapshot, read in one statement with the head. A large input kept apart
 * (task-docs.ts) is read with its document.
 */
import { Params, SqlTaskReads, taskPage, taskPageQuery, taskWhere, whereSql, type Row } from '../sql.ts';
import type { Page, TaskFilter, TaskRecord, TaskStore } from '../store.ts';
import { inputApart, putInputBack, type StoredTask } from '../task-docs.ts';
import { DEFAULT_SORT, type SortSpec } from '../task-sort.ts';
import { POSTGRES } from './dialect.ts';
import { DOC_COLUMNS, taskOf } from './task-docs.ts';

/** A statement on the pool (after the migrations): committed data only. */
export type PgRead = (sql: string, params?: unknown[]) => Promise<Row[]>;

export class PostgresTasks extends SqlTaskReads implements TaskStore {
  readonly #read: PgRead;

  constructor(read: PgRead) {
    super(POSTGRES, read);
    this.#read = read;
  }

  /** A document read without its input: one that keeps it apart fails loudly (read it with DOC_COLUMNS). */
  protected override parse(doc: unknown): TaskRecord | null {
    return taskOf({ doc });
  }

  override async get(id: string): Promise<TaskRecord | null> {
    return taskOf((await this.#read(`SELECT ${DOC_COLUMNS} FROM tasks WHERE id = $1`, [id]))[0]);
  }

  override async list(filter: TaskFilter, limit: number, cursor: string | null, sort: SortSpec = DEFAULT_SORT): Promise<Page<TaskRecord>> {
    // The page's query is shared (sql.ts); the inputs kept apart of its tasks are read after it.
    // Input rows are never changed or deleted, and each is committed with (or before) the first
    // document that names it: a later statement finds the input of every document of the page.
    const rows = await this.query((p) => taskPageQuery(filter, limit, cursor, sort, p));
    const parsed = new Map(rows.map((r) => [r.doc, JSON.parse(r.doc as string) as StoredTask]));
    const apart = [...parsed.values()].filter(inputApart);
    if (apart.length > 0) {
      const inputs = new Map((await this.#read('SELECT id, input FROM task_inputs WHERE id = ANY($1)', [apart.map((t) => t.id)])).map((r) => [r.id, r.input]));
      for (const t of apart) putInputBack(t, inputs.get(t.id));
    }
    return taskPage(rows, limit, sort, (doc) => parsed.get(doc) ?? null);
  }

  async snapshot(filter: TaskFilter, limit: number): Promise<{ head: number; tasks: TaskRecord[] }> {
    // One statement is one snapshot: the tasks and the head they are consistent with.
    const p = new Params(POSTGRES);
    const where = taskWhere({ ...filter, statuses: filter.statuses ?? ['queued', 'running'] }, p);
    const rows = await this.#read(
      `SELECT m.head, t.doc, t.input FROM taskpulse_meta m LEFT JOIN LATERAL (
         SELECT n, ${DOC_COLUMNS} FROM tasks ${whereSql(where)} ORDER BY n DESC LIMIT ${p.add(limit)}
       ) t ON true WHERE m.id = 1 ORDER BY t.n DESC`,
      p.values,
    );
    return {
      head: (rows[0]?.head as number | undefined) ?? 0,
      tasks: rows.filter((r) => r.doc !== null).map((r) => taskOf(r)!),
    };
  }
}

/**
 * The SQL both engines share, written once: the task and event filters, a page of tasks, counts by
 * status, the queue position and the event row → `StoredEvent` mapping. What differs between
 * SQLite and PostgreSQL (placeholders, lists, JSON) is the dialect each engine passes in
 * (`sqlite/dialect.ts`, `postgres/dialect.ts`). A property test checks that the filters select
 * exactly what the in-memory matcher (`stream/event-filter.ts`) does.
 */
import type { LogLevel, TaskStatus } from '@taskpulse/protocol';
import type { EtaCheck, EventFilter, MaybePromise, Page, StageRun, StoredEvent, TaskFilter, TaskRecord } from './store.ts';
import { DEFAULT_SORT, decodeSortCursor, encodeSortCursor, sortClauses, sortValue, type SortSpec } from './task-sort.ts';
import { parseDoc, statusCounts } from './records.ts';

export type Row = Record<string, unknown>;

/** What one engine's SQL spells differently. */
export interface SqlDialect {
  readonly name: 'sqlite' | 'postgres';
  /** The placeholder of the `n`th (1-based) parameter. */
  placeholder(n: number): string;
  /** `column` equals one of `values` (none: false). */
  oneOf(column: string, values: readonly unknown[], p: Params): string;
  /** The JSON array column `tags` of `table` holds `tag`. */
  hasTag(table: string, tag: string, p: Params): string;
  /** The SQL text `text` contains `needle`, ignoring case, matched as it is (`%` and `_` included). */
  contains(text: string, needle: string, p: Params): string;
  /** A top-level text field of the task document (`doc`). */
  docField(field: string): string;
  /** The text a free-text search (`q`) looks in, when it is more than `doc` (the engine keeps parts of tasks apart). */
  readonly searchText?: string;
  /** A row number above any: a task not yet inserted is last in line. */
  readonly lastRow: string;
  /** The SQL expression each sort key orders by (task-sort.ts). */
  readonly sort: Record<SortSpec['key'], string>;
}

/** A query's parameters, in the order their placeholders appear. */
export class Params {
  readonly values: unknown[] = [];
  readonly dialect: SqlDialect;
  constructor(dialect: SqlDialect) {
    this.dialect = dialect;
  }

  add(v: unknown): string {
    this.values.push(v);
    return this.dialect.placeholder(this.values.length);
  }
}

/** `WHERE a AND b`, or nothing. */
export function whereSql(where: readonly string[]): string {
  return where.length > 0 ? `WHERE ${where.join(' AND ')}` : '';
}

export function taskWhere(f: TaskFilter, p: Params): string[] {
  const d = p.dialect;
  const where: string[] = [];
  if (f.ids) where.push(d.oneOf('id', f.ids, p));
  if (f.statuses) where.push(d.oneOf('status', f.statuses, p));
  if (f.type !== undefined) where.push(`type = ${p.add(f.type)}`);
  if (f.owner !== undefined) where.push(`owner = ${p.add(f.owner)}`);
  if (f.parentId !== undefined) where.push(`parent_id = ${p.add(f.parentId)}`);
  if (f.tag !== undefined) where.push(d.hasTag('tasks', f.tag, p));
  if (f.q !== undefined) {
    where.push(`(id = ${p.add(f.q)} OR owner = ${p.add(f.q)} OR type = ${p.add(f.q)} OR ${d.contains(d.searchText ?? 'doc', f.q, p)})`);
  }
  if (f.createdFrom !== undefined) where.push(`${d.docField('createdAt')} >= ${p.add(f.createdFrom)}`);
  if (f.createdTo !== undefined) where.push(`${d.docField('createdAt')} < ${p.add(f.createdTo)}`);
  return where;
}

export function eventWhere(f: EventFilter, p: Params): string[] {
  const d = p.dialect;
  const where: string[] = [];
  if (f.owner !== undefined) where.push(`owner = ${p.add(f.owner)}`);
  if (f.taskIds) where.push(d.oneOf('task_id', f.taskIds, p));
  if (f.taskId !== undefined) where.push(`task_id = ${p.add(f.taskId)}`);
  if (f.type !== undefined) where.push(`task_type = ${p.add(f.type)}`);
  if (f.parentId !== undefined) where.push(`parent_id = ${p.add(f.parentId)}`);
  if (f.tag !== undefined) where.push(d.hasTag('events', f.tag, p));
  if (f.events) where.push(d.oneOf('type', f.events, p));
  return where;
}

/** The query for a page of tasks (one row more than `limit`: whether there is a next page). */
export function taskPageQuery(filter: TaskFilter, limit: number, cursor: string | null, sort: SortSpec, p: Params): string {
  const where = taskWhere(filter, p);
  const after = cursor === null ? null : decodeSortCursor(sort, cursor);
  const clauses = sortClauses(p.dialect.sort[sort.key], sort, after, (v) => p.add(v));
  if (clauses.where) where.push(clauses.where);
  return `SELECT n, doc FROM tasks ${whereSql(where)} ORDER BY ${clauses.orderBy} LIMIT ${p.add(limit + 1)}`;
}

/** The page from the rows of `taskPageQuery`. */
export function taskPage(rows: readonly Row[], limit: number, sort: SortSpec, parse: (doc: unknown) => TaskRecord | null = parseDoc): Page<TaskRecord> {
  const page = rows.slice(0, limit).map((r) => ({ n: Number(r.n), task: parse(r.doc)! }));
  const last = page[page.length - 1];
  return {
    items: page.map((r) => r.task),
    nextCursor: rows.length > limit && last ? encodeSortCursor(sort, { value: sortValue(sort.key, last.task, last.n), n: last.n }) : null,
  };
}

/** Counts by status of the tasks matching `filter` (rows for `statusCountsOf`). */
export function countQuery(filter: TaskFilter, p: Params): string {
  return `SELECT status, count(*) AS c FROM tasks ${whereSql(taskWhere(filter, p))} GROUP BY status`;
}

/** `{queued: n, …}` with every status, from the rows of `countQuery`. */
export function statusCountsOf(rows: readonly Row[]): Record<TaskStatus, number> {
  return statusCounts(rows as { status: string; c: number }[]);
}

/** How many queued tasks of the same type are ahead of `t` (a task not yet inserted is last in line), as `c`. */
export function queuePositionQuery(t: TaskRecord, p: Params): string {
  return `SELECT count(*) AS c FROM tasks WHERE status = 'queued' AND type = ${p.add(t.type)} AND id <> ${p.add(t.id)}
    AND n < coalesce((SELECT n FROM tasks WHERE id = ${p.add(t.id)}), ${p.dialect.lastRow})`;
}

/** The conditions on `notifications` of `owner`'s unread notifications among `sel`. */
export function unreadWhere(owner: string, sel: { ids?: string[]; upToSeq?: number }, p: Params): string[] {
  const where = [`owner = ${p.add(owner)}`, 'read_at IS NULL'];
  if (sel.ids) where.push(p.dialect.oneOf('id', sel.ids, p));
  if (sel.upToSeq !== undefined) where.push(`seq <= ${p.add(sel.upToSeq)}`);
  return where;
}

/** An events row (either engine: tags as JSON text or jsonb, milestone as 0/1 or boolean). */
export function rowToEvent(r: Row): StoredEvent {
  return {
    seq: r.seq as number,
    type: r.type as StoredEvent['type'],
    at: new Date(r.at_ms as number).toISOString(),
    taskId: (r.task_id as string | null) ?? null,
    owner: r.owner as string,
    taskType: (r.task_type as string | null) ?? null,
    parentId: (r.parent_id as string | null) ?? null,
    tags: typeof r.tags === 'string' ? (JSON.parse(r.tags) as string[]) : (r.tags as string[]),
    milestone: r.milestone === 1 || r.milestone === true,
    json: r.json as string,
  };
}

/** Runs one query of the engine's (reader connection or pool): its rows. */
export type RunQuery = (sql: string, values: unknown[]) => MaybePromise<Row[]>;

/** The queue position of `t` through `run` (a reader, or the batch's transaction inside a unit of work). */
export async function queuePosition(dialect: SqlDialect, run: RunQuery, t: TaskRecord): Promise<number> {
  const p = new Params(dialect);
  const sql = queuePositionQuery(t, p);
  return positionOf(await run(sql, p.values));
}

/** The position from the rows of `queuePositionQuery`. */
export function positionOf(rows: readonly Row[]): number {
  return Number(rows[0]!.c) + 1;
}

/** Reads on one engine's connection, each query built with that engine's placeholders. */
export abstract class SqlReads {
  protected readonly dialect: SqlDialect;
  protected readonly run: RunQuery;

  constructor(dialect: SqlDialect, run: RunQuery) {
    this.dialect = dialect;
    this.run = run;
  }

  protected async query(build: (p: Params) => string): Promise<Row[]> {
    const p = new Params(this.dialect);
    const sql = build(p);
    return this.run(sql, p.values);
  }
}

/**
 * The task reads whose SQL both engines share; an engine's `TaskStore` extends it with the reads
 * it does its own way (the snapshot, whose head must come from the same read snapshot).
 */
export abstract class SqlTaskReads extends SqlReads {
  /** A stored document as its record (an engine may keep parts of it apart). */
  protected parse(doc: unknown): TaskRecord | null {
    return parseDoc(doc);
  }

  async get(id: string): Promise<TaskRecord | null> {
    return this.parse((await this.query((p) => `SELECT doc FROM tasks WHERE id = ${p.add(id)}`))[0]?.doc);
  }

  async list(filter: TaskFilter, limit: number, cursor: string | null, sort: SortSpec = DEFAULT_SORT): Promise<Page<TaskRecord>> {
    return taskPage(await this.query((p) => taskPageQuery(filter, limit, cursor, sort, p)), limit, sort, (doc) => this.parse(doc));
  }

  queuePosition(task: TaskRecord): Promise<number> {
    return queuePosition(this.dialect, this.run, task);
  }

  countByStatus(type?: string): Promise<Record<TaskStatus, number>> {
    return this.count(type !== undefined ? { type } : {});
  }

  /** Counts by status of the tasks matching `filter`, whatever its `statuses`. */
  async count(filter: TaskFilter): Promise<Record<TaskStatus, number>> {
    return statusCountsOf(await this.query((p) => countQuery({ ...filter, statuses: undefined }, p)));
  }

  async countByTypeAndStatus(): Promise<{ type: string; status: TaskStatus; count: number }[]> {
    return (await this.query(() => 'SELECT type, status, count(*) AS count FROM tasks GROUP BY type, status')).map((r) => ({
      type: r.type as string, status: r.status as TaskStatus, count: Number(r.count),
    }));
  }

  async logs(taskId: string, after: number, limit: number): Promise<{ seq: number; at: string; level: LogLevel; message: string }[]> {
    return (await this.query(
      (p) => `SELECT seq, at, level, message FROM logs WHERE task_id = ${p.add(taskId)} AND seq > ${p.add(after)} ORDER BY seq LIMIT ${p.add(limit)}`,
    )) as { seq: number; at: string; level: LogLevel; message: string }[];
  }
}

const STAGE_RUN_COLUMNS = 'type, stage, duration_ms AS "durationMs", size, ended_at_ms AS "endedAtMs"';

/**
 * The history reads whose SQL both engines share (stage runs, ETA scores); an engine's
 * `HistoryStore` extends it with `finishedSince`, which reads the task documents its own way.
 */
export abstract class SqlHistoryReads extends SqlReads {
  /** Rows of `table` ended since `sinceMs`, of one type or every type, newest first. */
  #since(columns: string, table: string, sinceMs: number, type: string | undefined, limit: number): Promise<Row[]> {
    return this.query((p) => {
      const where = [`ended_at_ms >= ${p.add(sinceMs)}`];
      if (type !== undefined) where.push(`type = ${p.add(type)}`);
      return `SELECT ${columns} FROM ${table} WHERE ${where.join(' AND ')} ORDER BY ended_at_ms DESC LIMIT ${p.add(limit)}`;
    });
  }

  async stageRuns(type: string, limit: number): Promise<StageRun[]> {
    return (await this.query(
      (p) => `SELECT ${STAGE_RUN_COLUMNS} FROM stage_runs WHERE type = ${p.add(type)} ORDER BY ended_at_ms DESC LIMIT ${p.add(limit)}`,
    )) as unknown as StageRun[];
  }

  async stageRunsSince(sinceMs: number, type: string | undefined, limit: number): Promise<StageRun[]> {
    return (await this.#since(STAGE_RUN_COLUMNS, 'stage_runs', sinceMs, type, limit)) as unknown as StageRun[];
  }

  async etaChecksSince(sinceMs: number, type: string | undefined, limit: number): Promise<EtaCheck[]> {
    const rows = await this.#since('type, ended_at_ms AS "endedAtMs", checkpoint, error, inside, width', 'eta_checks', sinceMs, type, limit);
    // `inside` is a boolean in PostgreSQL, 0/1 in SQLite.
    return rows.map((r) => ({ ...r, inside: r.inside === null ? null : r.inside === true || r.inside === 1 }) as unknown as EtaCheck);
  }

  async etaReaches(type: string, sinceMs: number, limit: number): Promise<number[]> {
    const rows = await this.query(
      (p) => `SELECT reach FROM eta_checks WHERE ended_at_ms >= ${p.add(sinceMs)} AND type = ${p.add(type)} AND reach IS NOT NULL
              ORDER BY ended_at_ms DESC LIMIT ${p.add(limit)}`,
    );
    return rows.map((r) => Number(r.reach));
  }
}

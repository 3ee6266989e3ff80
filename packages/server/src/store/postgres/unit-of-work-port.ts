/**
 * PostgreSQL's side of the unit of work (unit-of-work.ts).
 *
 * Ordering (DESIGN.md, "Ordering under concurrent writers"): every batch's transaction starts by
 * locking the one row of `taskpulse_meta` (`SELECT head … FOR UPDATE`) and only then assigns seqs
 * (head + 1, head + 2, …), writing the new head before `COMMIT`. The row lock is held until
 * commit, so transactions — from every instance — commit one after another, in seq order: seq N+1
 * can never be visible before N. Because the lock is taken first, before any task row, writers
 * cannot deadlock on task rows (a child report locking its parent after appending would otherwise
 * cross a parent report).
 *
 * A batch costs three round trips whatever its size: `BEGIN`, the head lock and the tasks its
 * units named (one simple query); then, at the end, the task rows, new task versions, events and
 * head (and any large input not yet stored apart, task-docs.ts) in one statement (data-modifying
 * CTEs); then `COMMIT`. Task rows are read without row
 * locks: every write to `tasks` is made under the head lock, which the batch holds. Savepoints are
 * lazy: taken before a unit's first statement that changes data, so a progress report (its task
 * read with the batch's, its row and event written with the batch's) costs no round trip of its
 * own. Rows flushed before a query that reads tasks are written first thing in that query's round
 * trip. A statement that fails outside a savepoint loses the transaction: the batch fails.
 */
import type pg from 'pg';
import { atMsOf, pieceOf, type CompactEvent } from '../event-diff.ts';
import type { Row } from '../sql.ts';
import type { StoredEvent, TaskRecord } from '../store.ts';
import type { UnitOfWork, UnitOfWorkPort } from '../unit-of-work.ts';
import type { Unit } from '../group-commit.ts';
import { EVENT_COLUMNS } from './events.ts';
import { leaseColumn } from './write-tx.ts';
import { DOC_COLUMNS, insertInputs, type PostgresTaskInputs } from './task-docs.ts';

export class PostgresPort implements UnitOfWorkPort {
  readonly #pool: pg.Pool;
  readonly #ready: Promise<void>;
  readonly #inputs: PostgresTaskInputs;
  #uow: UnitOfWork | null = null;
  /** The batch's connection (valid only while it holds the head lock). */
  #client: pg.PoolClient | null = null;
  /** A statement failed outside a savepoint: the transaction is lost, the whole batch is undone. */
  #broken: unknown = null;
  /** The batch's appended events → how each is stored (compact()). */
  readonly #compact = new Map<StoredEvent, CompactEvent>();

  constructor(pool: pg.Pool, ready: Promise<void>, inputs: PostgresTaskInputs) {
    this.#pool = pool;
    this.#ready = ready;
    this.#inputs = inputs;
  }

  /** The unit of work this port serves (made after the port). */
  bind(uow: UnitOfWork): void {
    this.#uow = uow;
  }

  /** A statement in the batch's transaction. */
  async q(sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>> {
    if (this.#broken) throw this.#broken;
    if (this.#rows.length > 0) {
      const writes = this.#writes()!;
      await this.q(writes.text, writes.values);
    }
    try {
      return await this.#client!.query<Row>(sql, params);
    } catch (error) {
      if (!this.#uow!.inSavepoint) this.#broken = error;
      throw error;
    }
  }

  /** A statement that changes data: inside a unit, it runs after the unit's savepoint. */
  async change(sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>> {
    await this.#uow!.beforeChange();
    return this.q(sql, params);
  }

  async begin(batch: readonly Unit[]): Promise<number> {
    this.#broken = null;
    await this.#ready;
    this.#client = await this.#pool.connect();
    // One round trip: BEGIN, the write lock of the whole cluster (held until COMMIT, so commit
    // order is seq order), and the tasks the batch's units said they will read. Each statement of
    // a simple query takes its own snapshot: the tasks are read as of after the lock, with every
    // earlier writer's commit in view. No row lock on them: every write to `tasks` is made under
    // the head lock, which this transaction holds.
    const ids = new Set<string>();
    for (const unit of batch) if (unit.tasks) for (const id of unit.tasks) ids.add(id);
    const client = this.#client;
    const read = ids.size === 0 ? '' : `; SELECT ${DOC_COLUMNS} FROM tasks WHERE id IN (${[...ids].map((id) => client.escapeLiteral(id)).join(', ')})`;
    const results = (await this.q(`BEGIN; SELECT head FROM taskpulse_meta WHERE id = 1 FOR UPDATE${read}`)) as unknown as pg.QueryResult<Row>[];
    for (const r of results[2]?.rows ?? []) {
      const rec = this.#inputs.read(r);
      if (rec) this.#uow!.remember(rec);
    }
    return results[1]!.rows[0]!.head as number;
  }

  async savepoint(): Promise<void> {
    await this.q('SAVEPOINT unit');
  }

  async release(): Promise<void> {
    await this.q('RELEASE SAVEPOINT unit');
  }

  async rollbackToSavepoint(): Promise<void> {
    await this.q('ROLLBACK TO SAVEPOINT unit; RELEASE SAVEPOINT unit');
  }

  lost(): unknown {
    return this.#broken;
  }

  async flushRows(rows: readonly TaskRecord[]): Promise<void> {
    // Written with the events at COMMIT when nothing else runs before (commit()), else first thing
    // in the next statement (q()): the same order, one round trip less.
    this.#rows.push(...rows);
  }

  /** Task rows flushed but not yet written (flushRows). */
  #rows: TaskRecord[] = [];
  /** The batch's events and head, written at COMMIT. */
  #events: readonly StoredEvent[] = [];
  #head: number | null = null;

  /** How an appended event is stored (its diff, base and new version), kept until it is inserted. */
  compact(c: CompactEvent): StoredEvent {
    this.#compact.set(c.stored, c);
    return c.stored;
  }

  async insertEvents(events: readonly StoredEvent[]): Promise<void> {
    this.#events = events;
  }

  async setHead(head: number): Promise<void> {
    this.#head = head;
  }

  /**
   * The batch's writes as one statement (data-modifying CTEs): the task rows flushed, the new
   * task versions, the events, the head. The JSON texts (documents, versions, events) go in as one
   * JSON array each, joined as they are (`json_array_elements` gives each back exactly): the
   * driver would otherwise escape every quote of them into an array literal, synchronously and
   * under the head lock. Null when there is nothing to write.
   */
  #writes(): { text: string; values: unknown[] } | null {
    const parts: string[] = [];
    const values: unknown[] = [];
    const arg = (v: unknown[], type: string) => `unnest($${values.push(v)}::${type}[])`;
    const json = (texts: string[]) => `json_array_elements($${values.push(`[${texts.join(',')}]`)}::json)`;
    const rows = this.#rows;
    if (rows.length > 0) {
      const docs = rows.map((t) => this.#inputs.doc(t));
      parts.push(
        `UPDATE tasks SET status = v.status, lease_expires_at = v.lease, doc = v.doc::text
         FROM ROWS FROM (${arg(rows.map((t) => t.id), 'text')}, ${arg(rows.map((t) => t.status), 'text')}, ${arg(rows.map(leaseColumn), 'bigint')},
           ${json(docs.map((d) => d.doc))}) AS v(id, status, lease, doc)
         WHERE tasks.id = v.id`,
      );
      // An input this transaction does not see stored yet goes apart here (task-docs.ts): a row
      // written before inputs were kept apart, or an input a unit put in place of another.
      const apart = rows.filter((_, i) => docs[i]!.input !== null);
      if (apart.length > 0) {
        parts.push(insertInputs(`ROWS FROM (${arg(apart.map((t) => t.id), 'text')}, ${json(docs.flatMap((d) => d.input ?? []))}) AS v(i, j)`));
      }
    }
    const events = this.#events;
    if (events.length > 0) {
      // An undone unit's events are not in `events`: only their entries are left behind (cleared in end()).
      const stored = events.map((e) => this.#compact.get(e));
      const versions = events.filter((_, i) => stored[i]?.version != null);
      if (versions.length > 0) {
        parts.push(
          `INSERT INTO task_versions (task_id, seq, at_ms, json)
           SELECT t, s, a, j::text FROM ROWS FROM (${arg(versions.map((e) => e.taskId), 'text')}, ${arg(versions.map((e) => e.seq), 'bigint')},
             ${arg(versions.map((e) => this.#compact.get(e)!.atMs), 'bigint')}, ${json(versions.map((e) => this.#compact.get(e)!.version!))}) AS v(t, s, a, j)`,
        );
      }
      parts.push(
        `INSERT INTO events (${EVENT_COLUMNS}, base)
         SELECT s, ty, a, ti, o, tt, p, tg::jsonb, m, j::text, b
         FROM ROWS FROM (${[
           arg(events.map((e) => e.seq), 'bigint'), arg(events.map((e) => e.type), 'text'), arg(events.map((e, i) => stored[i]?.atMs ?? atMsOf(e.at)), 'bigint'),
           arg(events.map((e) => e.taskId), 'text'), arg(events.map((e) => e.owner), 'text'), arg(events.map((e) => e.taskType), 'text'),
           arg(events.map((e) => e.parentId), 'text'), arg(events.map((e) => pieceOf('tags', e.tags)), 'text'), arg(events.map((e) => e.milestone), 'bool'),
           json(events.map((e, i) => stored[i]?.row ?? e.json)), arg(events.map((_, i) => stored[i]?.base ?? null), 'bigint'),
         ].join(', ')}) AS v(s, ty, a, ti, o, tt, p, tg, m, j, b)`,
      );
    }
    if (this.#head !== null) parts.push(`UPDATE taskpulse_meta SET head = $${values.push(this.#head)} WHERE id = 1`);
    this.#rows = [];
    this.#events = [];
    this.#head = null;
    if (parts.length === 0) return null;
    const text = parts.length === 1 ? parts[0]! : `WITH ${parts.slice(0, -1).map((sql, i) => `w${i} AS (${sql})`).join(', ')} ${parts.at(-1)}`;
    return { text, values };
  }

  async commit(): Promise<void> {
    const writes = this.#writes();
    if (writes) await this.q(writes.text, writes.values);
    await this.q('COMMIT');
  }

  async rollback(cause: unknown): Promise<void> {
    // A broken connection is dropped in `end`; the server rolls its transaction back when it goes.
    // (Sending ROLLBACK down it could only wait for the query timeout.)
    if (this.#client && !(cause instanceof Error && isConnectionError(cause))) await this.#client.query('ROLLBACK').catch(() => {});
  }

  end(cause: unknown): void {
    const failed = this.#broken ?? cause;
    // A connection that failed mid-transaction is not given back to the pool.
    this.#client?.release(failed instanceof Error && isConnectionError(failed) ? failed : undefined);
    this.#client = null;
    this.#broken = null;
    this.#compact.clear();
    this.#rows = [];
    this.#events = [];
    this.#head = null;
  }
}

function isConnectionError(e: Error): boolean {
  // SQLSTATE class 08 (connection exception), 57P0x (admin shutdown), 25P03 (idle-in-transaction
  // timeout: the server ended the session), or no SQLSTATE at all (a socket error, or this
  // process's query timeout, after which the connection's next answer would be the late one).
  const code = (e as { code?: unknown }).code;
  return typeof code !== 'string' || code.startsWith('08') || code.startsWith('57P') || code === '25P03' || code.startsWith('E');
}

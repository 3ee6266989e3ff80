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
 * Savepoints are lazy: taken before a unit's first statement that changes data, so a progress
 * report costs one round trip (`SELECT … FOR UPDATE` of its task); task rows and events are
 * written for the whole batch in one statement each, just before `COMMIT` (or before a query that
 * reads tasks). A statement that fails outside a savepoint loses the transaction: the batch fails.
 */
import type pg from 'pg';
import { pieceOf, type CompactEvent } from '../event-diff.ts';
import { parseDoc } from '../records.ts';
import type { Row } from '../sql.ts';
import type { StoredEvent, TaskRecord } from '../store.ts';
import type { UnitOfWork, UnitOfWorkPort } from '../unit-of-work.ts';
import type { Unit } from '../group-commit.ts';
import { EVENT_COLUMNS } from './events.ts';

export class PostgresPort implements UnitOfWorkPort {
  readonly #pool: pg.Pool;
  readonly #ready: Promise<void>;
  #uow: UnitOfWork | null = null;
  /** The batch's connection (valid only while it holds the head lock). */
  #client: pg.PoolClient | null = null;
  /** A statement failed outside a savepoint: the transaction is lost, the whole batch is undone. */
  #broken: unknown = null;
  /** The batch's appended events → how each is stored (compact()). */
  readonly #compact = new Map<StoredEvent, CompactEvent>();

  constructor(pool: pg.Pool, ready: Promise<void>) {
    this.#pool = pool;
    this.#ready = ready;
  }

  /** The unit of work this port serves (made after the port). */
  bind(uow: UnitOfWork): void {
    this.#uow = uow;
  }

  /** A statement in the batch's transaction. */
  async q(sql: string, params?: unknown[]): Promise<pg.QueryResult<Row>> {
    if (this.#broken) throw this.#broken;
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
    await this.q('BEGIN');
    // The write lock of the whole cluster: held until COMMIT, so commit order is seq order.
    const { rows } = await this.q('SELECT head FROM taskpulse_meta WHERE id = 1 FOR UPDATE');
    await this.#prefetch(batch);
    return rows[0]!.head as number;
  }

  /** Loads the tasks the batch's units said they will read, in one round trip instead of one each. */
  async #prefetch(batch: readonly Unit[]): Promise<void> {
    const ids = new Set<string>();
    for (const unit of batch) if (unit.tasks) for (const id of unit.tasks) ids.add(id);
    if (ids.size < 2) return;
    const { rows } = await this.q('SELECT doc FROM tasks WHERE id = ANY($1) FOR UPDATE', [[...ids]]);
    for (const r of rows) {
      const rec = parseDoc(r.doc);
      if (rec) this.#uow!.remember(rec);
    }
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
    await this.q(
      `UPDATE tasks SET status = v.status, lease_expires_at = v.lease, doc = v.doc
       FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[]) AS v(id, status, lease, doc) WHERE tasks.id = v.id`,
      [rows.map((t) => t.id), rows.map((t) => t.status), rows.map((t) => t.lease?.expiresAtMs ?? null), rows.map((t) => JSON.stringify(t))],
    );
  }

  /** How an appended event is stored (its diff, base and new version), kept until it is inserted. */
  compact(c: CompactEvent): StoredEvent {
    this.#compact.set(c.stored, c);
    return c.stored;
  }

  async insertEvents(events: readonly StoredEvent[]): Promise<void> {
    if (events.length === 0) return;
    // An undone unit's events are not in `events`: only their entries are left behind (cleared in end()).
    const rows = events.map((e) => this.#compact.get(e));
    const versions = events.filter((e, i) => rows[i]?.version != null);
    // The new versions and the events in one round trip.
    await this.q(
      `WITH nv AS (
         INSERT INTO task_versions (task_id, seq, at_ms, json)
         SELECT * FROM unnest($12::text[], $13::bigint[], $14::bigint[], $15::text[])
       )
       INSERT INTO events (${EVENT_COLUMNS}, base)
       SELECT s, ty, a, ti, o, tt, p, tg::jsonb, m, j, b
       FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::bool[], $10::text[], $11::bigint[])
         AS v(s, ty, a, ti, o, tt, p, tg, m, j, b)`,
      [
        events.map((e) => e.seq), events.map((e) => e.type), events.map((e) => Date.parse(e.at)), events.map((e) => e.taskId),
        events.map((e) => e.owner), events.map((e) => e.taskType), events.map((e) => e.parentId), events.map((e) => pieceOf('tags', e.tags)),
        events.map((e) => e.milestone), events.map((e, i) => rows[i]?.row ?? e.json), events.map((_, i) => rows[i]?.base ?? null),
        versions.map((e) => e.taskId), versions.map((e) => e.seq), versions.map((e) => Date.parse(e.at)), versions.map((e) => this.#compact.get(e)!.version),
      ],
    );
  }

  async setHead(head: number): Promise<void> {
    await this.q('UPDATE taskpulse_meta SET head = $1 WHERE id = 1', [head]);
  }

  async commit(): Promise<void> {
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
  }
}

function isConnectionError(e: Error): boolean {
  // SQLSTATE class 08 (connection exception), 57P0x (admin shutdown), 25P03 (idle-in-transaction
  // timeout: the server ended the session), or no SQLSTATE at all (a socket error, or this
  // process's query timeout, after which the connection's next answer would be the late one).
  const code = (e as { code?: unknown }).code;
  return typeof code !== 'string' || code.startsWith('08') || code.startsWith('57P') || code === '25P03' || code.startsWith('E');
}

/**
 * SQLite: the log's per-task and per-owner keys, written in bulk.
 *
 * A reader that follows one task or one owner (a task page, a user's portal, a resumed stream)
 * needs that task's events without reading everyone's. An index on `events(task_id, seq)` gives
 * that, but every commit then dirties one index page per task it touched: with 25 tasks per
 * commit that was 5.8 kB of WAL per report, two thirds of what a report wrote (docs/benchmarks.md).
 *
 * So the keys live in their own tables (`events_by_task`, `events_by_owner`: key, seq) and are
 * written for a whole stretch of the log at once, sorted by key, once the unkeyed tail reaches
 * {@link KEY_BATCH} events: each task's page is dirtied once per stretch instead of once per
 * commit. `meta.keyed` is the last seq they cover; it is written in the same transaction as the
 * keys, so a crash leaves them consistent (nothing to rebuild: the tail is simply read by seq).
 * A filtered read takes the keyed part through the keys and the tail, at most KEY_BATCH events,
 * by seq (events.ts).
 */
import type Database from 'better-sqlite3';
import { Params, eventWhere, type Row } from '../sql.ts';
import type { EventFilter } from '../store.ts';
import { SQLITE } from './dialect.ts';
import { prepared } from './statements.ts';

/** Events past `meta.keyed` before the keys are written: also the most a filtered read scans by seq. */
export const KEY_BATCH = 2048;

export class EventKeys {
  readonly #s;
  readonly #batch: number;
  /** The last seq the committed keys cover. */
  #keyed: number;
  /** What the running batch's keys will cover once it commits. */
  #pending: number | null = null;

  /** `batch`: {@link KEY_BATCH} (smaller in tests, to cross the keyed part's end often). */
  constructor(db: Database.Database, batch = KEY_BATCH) {
    this.#batch = batch;
    this.#s = {
      byTask: db.prepare('INSERT INTO events_by_task (k, s) SELECT task_id, seq FROM events WHERE seq > ? AND seq <= ? AND task_id IS NOT NULL ORDER BY task_id, seq'),
      byOwner: db.prepare('INSERT INTO events_by_owner (k, s) SELECT owner, seq FROM events WHERE seq > ? AND seq <= ? ORDER BY owner, seq'),
      setKeyed: db.prepare("INSERT OR REPLACE INTO meta (k, v) VALUES ('keyed', ?)"),
    };
    this.#keyed = keyedOf(db);
  }

  /** Inside the batch's transaction, after its events: writes the keys when the tail is long enough. */
  write(head: number): void {
    if (head - this.#keyed < this.#batch) return;
    this.#s.byTask.run(this.#keyed, head);
    this.#s.byOwner.run(this.#keyed, head);
    this.#s.setKeyed.run(head);
    this.#pending = head;
  }

  committed(): void {
    if (this.#pending !== null) this.#keyed = this.#pending;
    this.#pending = null;
  }

  rolledBack(): void {
    this.#pending = null;
  }
}

/** The last seq `events_by_task`/`events_by_owner` cover, as committed. */
export function keyedOf(db: Database.Database): number {
  return (prepared(db, "SELECT v FROM meta WHERE k = 'keyed'").pluck(true).get() as number | undefined) ?? 0;
}

/**
 * Rows of the events after `after` up to `head` that match `filter`, in seq order, at most
 * `limit`: through the keys up to `keyed` when the filter names a task or an owner, then the tail
 * by seq. Run inside one read transaction (head and keyed from the same snapshot).
 */
export function readEventRows(db: Database.Database, after: number, head: number, keyed: number, filter: EventFilter, limit: number): Row[] {
  const key =
    filter.taskId !== undefined ? { table: 'events_by_task', values: [filter.taskId] }
    : filter.taskIds ? { table: 'events_by_task', values: filter.taskIds }
    : filter.owner !== undefined ? { table: 'events_by_owner', values: [filter.owner] }
    : null;
  if (key === null || after >= keyed) return scan(db, after, head, filter, limit);
  const p = new Params(SQLITE);
  const where = [SQLITE.oneOf('k', key.values, p), `s > ${p.add(after)}`, `s <= ${p.add(Math.min(keyed, head))}`, ...eventWhere(filter, p)];
  // CROSS JOIN: SQLite walks the keys (in seq order for one key) and looks each event up by seq.
  const sql = `SELECT events.* FROM ${key.table} CROSS JOIN events ON events.seq = ${key.table}.s WHERE ${where.join(' AND ')} ORDER BY s LIMIT ${p.add(limit)}`;
  const rows = prepared(db, sql).pluck(false).all(...p.values) as Row[];
  if (rows.length >= limit || keyed >= head) return rows;
  return rows.concat(scan(db, keyed, head, filter, limit - rows.length));
}

function scan(db: Database.Database, after: number, head: number, filter: EventFilter, limit: number): Row[] {
  const p = new Params(SQLITE);
  const where = [`seq > ${p.add(after)}`, `seq <= ${p.add(head)}`, ...eventWhere(filter, p)];
  return prepared(db, `SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ${p.add(limit)}`).pluck(false).all(...p.values) as Row[];
}

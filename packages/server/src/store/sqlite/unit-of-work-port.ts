/**
 * SQLite's side of the unit of work (unit-of-work.ts). This process is the only writer: `BEGIN
 * IMMEDIATE` takes the file's write lock, the head is kept in memory, task rows stay cached
 * between batches, and events are written as they are appended (write-tx.ts), so there is
 * nothing to insert or record at COMMIT (the head is the newest event, events.ts) but, every few
 * thousand events, the log's keys (event-keys.ts).
 */
import type Database from 'better-sqlite3';
import type { TaskRecord } from '../store.ts';
import type { UnitOfWorkPort } from '../unit-of-work.ts';
import type { TaskInputs } from './task-docs.ts';
import type { EventKeys } from './event-keys.ts';
import type { DeferredRows } from './deferred-rows.ts';

export class SqlitePort implements UnitOfWorkPort {
  readonly #db: Database.Database;
  readonly #inputs: TaskInputs;
  readonly #keys: EventKeys;
  readonly #rows: DeferredRows;
  /** The batch's head (setHead), and the committed one. */
  #head: number;
  #committedHead: number;
  readonly #s;

  /** `head`: the log's head at open. */
  constructor(db: Database.Database, inputs: TaskInputs, keys: EventKeys, rows: DeferredRows, head: number) {
    this.#db = db;
    this.#inputs = inputs;
    this.#keys = keys;
    this.#rows = rows;
    this.#head = this.#committedHead = head;
    this.#s = {
      savepoint: db.prepare('SAVEPOINT unit'),
      release: db.prepare('RELEASE unit'),
      rollbackTo: db.prepare('ROLLBACK TO unit'),
    };
  }

  begin(): null {
    this.#db.exec('BEGIN IMMEDIATE');
    return null;
  }

  savepoint(): void {
    this.#s.savepoint.run();
    this.#rows.savepoint();
  }

  release(): void {
    this.#s.release.run();
    this.#rows.release();
  }

  rollbackToSavepoint(): void {
    this.#inputs.forget();
    this.#s.rollbackTo.run();
    this.#s.release.run();
    this.#rows.rollbackToSavepoint();
  }

  /**
   * On SQLITE_FULL, IOERR, NOMEM… SQLite may roll the whole transaction back by itself: then there
   * is no savepoint to return to, and the batch fails with that error.
   */
  lost(error: unknown): unknown {
    return this.#db.inTransaction ? null : (error ?? new Error('SQLite rolled the transaction back'));
  }

  /** Writes the rows, or defers those of progress (deferred-rows.ts). */
  flushRows(tasks: readonly TaskRecord[]): void {
    this.#rows.flush(tasks);
  }

  insertEvents(): void {}

  /** The head is the newest event (events.ts); a long enough tail gets its keys (event-keys.ts). */
  setHead(head: number): void {
    this.#head = head;
    this.#keys.write(head);
  }

  commit(): void {
    const now = Date.now();
    this.#rows.beforeCommit(this.#head, now);
    this.#db.exec('COMMIT');
    this.#committedHead = this.#head;
    this.#keys.committed();
    this.#rows.afterCommit(now);
  }

  rollback(): void {
    this.#head = this.#committedHead;
    this.#keys.rolledBack();
    this.#rows.rolledBack();
    this.#inputs.forget();
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  end(): void {}
}

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

export class SqlitePort implements UnitOfWorkPort {
  readonly #db: Database.Database;
  readonly #inputs: TaskInputs;
  readonly #keys: EventKeys;
  readonly #s;

  constructor(db: Database.Database, inputs: TaskInputs, keys: EventKeys) {
    this.#db = db;
    this.#inputs = inputs;
    this.#keys = keys;
    this.#s = {
      updateTask: db.prepare('UPDATE tasks SET status = ?, lease_expires_at = ?, doc = ? WHERE id = ?'),
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
  }

  release(): void {
    this.#s.release.run();
  }

  rollbackToSavepoint(): void {
    this.#inputs.forget();
    this.#s.rollbackTo.run();
    this.#s.release.run();
  }

  /**
   * On SQLITE_FULL, IOERR, NOMEM… SQLite may roll the whole transaction back by itself: then there
   * is no savepoint to return to, and the batch fails with that error.
   */
  lost(error: unknown): unknown {
    return this.#db.inTransaction ? null : (error ?? new Error('SQLite rolled the transaction back'));
  }

  flushRows(tasks: readonly TaskRecord[]): void {
    for (const t of tasks) this.#s.updateTask.run(t.status, t.lease?.expiresAtMs ?? null, this.#inputs.doc(t), t.id);
  }

  insertEvents(): void {}

  /** The head is the newest event (events.ts); a long enough tail gets its keys (event-keys.ts). */
  setHead(head: number): void {
    this.#keys.write(head);
  }

  commit(): void {
    this.#db.exec('COMMIT');
    this.#keys.committed();
  }

  rollback(): void {
    this.#keys.rolledBack();
    this.#inputs.forget();
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  end(): void {}
}

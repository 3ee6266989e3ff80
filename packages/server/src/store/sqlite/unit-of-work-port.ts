/**
 * SQLite's side of the unit of work (unit-of-work.ts). This process is the only writer: `BEGIN
 * IMMEDIATE` takes the file's write lock, the head is kept in memory, task rows stay cached
 * between batches, and events are written as they are appended (write-tx.ts), so there is
 * nothing to insert or record at COMMIT (the head is the newest event, events.ts).
 */
import type Database from 'better-sqlite3';
import type { TaskRecord } from '../store.ts';
import type { UnitOfWorkPort } from '../unit-of-work.ts';
import type { TaskInputs } from './task-docs.ts';

export class SqlitePort implements UnitOfWorkPort {
  readonly #db: Database.Database;
  readonly #inputs: TaskInputs;
  readonly #s;

  constructor(db: Database.Database, inputs: TaskInputs) {
    this.#db = db;
    this.#inputs = inputs;
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

  setHead(): void {}

  commit(): void {
    this.#db.exec('COMMIT');
  }

  rollback(): void {
    this.#inputs.forget();
    if (this.#db.inTransaction) this.#db.exec('ROLLBACK');
  }

  end(): void {}
}

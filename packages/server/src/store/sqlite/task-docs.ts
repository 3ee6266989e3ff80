/**
 * SQLite's side of keeping a large task input apart from its row (migration 10, table
 * `task_inputs`; why and how: ../task-docs.ts): reading documents on a connection, and writing
 * each input once.
 */
import type Database from 'better-sqlite3';
import type { TaskRecord } from '../store.ts';
import { inputApart, putInputBack, rowDoc, type StoredTask } from '../task-docs.ts';

/** Reads documents on one connection, putting inputs kept apart back. */
export class TaskDocs {
  readonly #input: Database.Statement;

  constructor(db: Database.Database) {
    this.#input = db.prepare('SELECT input FROM task_inputs WHERE id = ?').pluck();
  }

  /** A stored document as its record, or null when the row was not found. */
  parse(doc: unknown): TaskRecord | null {
    if (typeof doc !== 'string') return null;
    const rec = JSON.parse(doc) as StoredTask;
    return inputApart(rec) ? putInputBack(rec, this.#input.get(rec.id)) : rec;
  }
}

/**
 * The write connection's side: writes an input apart once per task. `known` remembers the tasks
 * whose input row this process wrote or read, so a row rewrite costs no statement; it is cleared
 * whenever a transaction or savepoint is rolled back (an input row written there is gone).
 */
export class TaskInputs {
  readonly #insert: Database.Statement;
  /** Per task, the input JSON this process wrote or found written (the same string while the input object is). */
  readonly #known = new Map<string, string>();

  constructor(db: Database.Database) {
    // The task model never replaces an input, but the store takes any record: a different input
    // replaces the stored one; the same input (compared by SQLite) writes nothing.
    this.#insert = db.prepare(
      'INSERT INTO task_inputs (id, input) VALUES (?, ?) ON CONFLICT (id) DO UPDATE SET input = excluded.input WHERE input <> excluded.input',
    );
  }

  /** The document to write for `t`, its input written apart first when it is large. */
  doc(t: TaskRecord): string {
    const { doc, input } = rowDoc(t);
    if (input !== null && this.#known.get(t.id) !== input) {
      this.#insert.run(t.id, input);
      if (this.#known.size >= 100_000) this.#known.clear();
      this.#known.set(t.id, input);
    }
    return doc;
  }

  /** A rollback may have undone input rows written since: forget them all. */
  forget(): void {
    this.#known.clear();
  }
}

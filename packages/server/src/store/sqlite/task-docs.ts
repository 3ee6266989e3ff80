/**
 * Task rows whose `input` is large keep it apart, in `task_inputs` (migration 10).
 *
 * A report rewrites its task's row, and SQLite rewrites a row whole: with the `input` in the
 * document, a task with a 10 KB input wrote ~10 KB more to the WAL on every report (twice the
 * bytes and ~1.6× the CPU of a report with a 100-byte input, `bench/store.ts`). A task's `input`
 * never changes after creation, so an input longer than {@link INPUT_APART_CHARS} characters of
 * JSON is written once to `task_inputs`, and the row's document has `null` in its place and a
 * last field `"$input":1` (no task field has that name). Reading a document puts the input back in
 * its place, so every reader sees the record as it was.
 *
 * Documents written before this (inputs inline) stay readable as they are; their next row write
 * moves the input apart.
 */
import type Database from 'better-sqlite3';
import type { TaskRecord } from '../store.ts';
import { pieceOf, recordJson } from '../event-diff.ts';

/** An input whose JSON is longer than this is stored apart from the task's row. */
export const INPUT_APART_CHARS = 1024;
const MARK = '"$input"';

/** The row's document, and the input's JSON when it is kept apart. */
export function rowDoc(t: TaskRecord): { doc: string; input: string | null } {
  const input = pieceOf('input', t.input);
  if (input === undefined || input.length <= INPUT_APART_CHARS) return { doc: recordJson(t), input: null };
  let doc = '{';
  for (const k in t) {
    const piece = k === 'input' ? 'null' : pieceOf(k, (t as unknown as Record<string, unknown>)[k]);
    if (piece === undefined) continue;
    if (doc.length > 1) doc += ',';
    doc += `${JSON.stringify(k)}:${piece}`;
  }
  return { doc: `${doc},${MARK}:1}`, input };
}

/** Reads documents on one connection, putting inputs kept apart back. */
export class TaskDocs {
  readonly #input: Database.Statement;

  constructor(db: Database.Database) {
    this.#input = db.prepare('SELECT input FROM task_inputs WHERE id = ?').pluck();
  }

  /** A stored document as its record, or null when the row was not found. */
  parse(doc: unknown): TaskRecord | null {
    if (typeof doc !== 'string') return null;
    const rec = JSON.parse(doc) as TaskRecord & { $input?: 1 };
    if (rec.$input !== undefined) {
      const input = this.#input.get(rec.id) as string | undefined;
      // Written in the row's own transaction: a document that names it always has it.
      if (input === undefined) throw new Error(`task ${rec.id}: its input is missing from task_inputs`);
      rec.input = JSON.parse(input);
      delete rec.$input;
    }
    return rec;
  }
}

/**
 * The write connection's side: writes an input apart once per task. `known` remembers the tasks
 * whose input row this process wrote or read, so a row rewrite costs no statement; it is cleared
 * whenever a transaction or savepoint is rolled back (an input row written there is gone).
 */
export class TaskInputs {
  readonly #insert: Database.Statement;
  readonly #known = new Set<string>();

  constructor(db: Database.Database) {
    this.#insert = db.prepare('INSERT OR IGNORE INTO task_inputs (id, input) VALUES (?, ?)');
  }

  /** The document to write for `t`, its input written apart first when it is large. */
  doc(t: TaskRecord): string {
    const { doc, input } = rowDoc(t);
    if (input !== null && !this.#known.has(t.id)) {
      this.#insert.run(t.id, input);
      if (this.#known.size >= 100_000) this.#known.clear();
      this.#known.add(t.id);
    }
    return doc;
  }

  /** A rollback may have undone input rows written since: forget them all. */
  forget(): void {
    this.#known.clear();
  }
}

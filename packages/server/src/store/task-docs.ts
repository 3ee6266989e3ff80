/**
 * Task rows whose `input` is large keep it apart, in `task_inputs` (both engines: SQLite
 * migration 10, PostgreSQL migration 9) — the part of it both engines share.
 *
 * A report rewrites its task's row: SQLite rewrites a row whole, PostgreSQL writes a new row
 * version and, for a large document, TOASTs it again. With the `input` in the document, a task with
 * a 10 KB input wrote ~10 KB more on every report. A task's `input` never changes after creation,
 * so an input longer than {@link INPUT_APART_CHARS} characters of JSON is written once to
 * `task_inputs`, and the row's document has `null` in its place and a last field `"$input":1` (no
 * task field has that name). Reading a document puts the input back in its place, so every reader
 * sees the record as it was.
 *
 * Documents written before this (inputs inline) stay readable as they are; their next row write
 * moves the input apart.
 */
import type { TaskRecord } from './store.ts';
import { pieceOf, recordJson } from './event-diff.ts';

/** An input whose JSON is longer than this is stored apart from the task's row. */
export const INPUT_APART_CHARS = 1024;
const MARK = '"$input"';
/** How a document whose input is kept apart ends. */
export const APART_SUFFIX = `,${MARK}:1}`;

/** The row's document, and the input's JSON when it is kept apart. */
export function rowDoc(t: TaskRecord): { doc: string; input: string | null } {
  const input = pieceOf('input', t.input);
  if (input === undefined || input.length <= INPUT_APART_CHARS) return { doc: recordJson(t), input: null };
  return { doc: recordJson(t, 'null').slice(0, -1) + APART_SUFFIX, input };
}

/** A stored document as parsed: while its input is apart, `input` is null and `$input` is 1. */
export type StoredTask = TaskRecord & { $input?: 1 };

/** Whether a parsed document keeps its input apart. */
export function inputApart(rec: StoredTask): boolean {
  return rec.$input !== undefined;
}

/** Puts an input kept apart (its JSON from `task_inputs`) back in its place; the field order stays. */
export function putInputBack(rec: StoredTask, input: unknown): TaskRecord {
  // Written in the row's own transaction: a document that names it always has it.
  if (typeof input !== 'string') throw new Error(`task ${rec.id}: its input is missing from task_inputs`);
  rec.input = JSON.parse(input);
  delete rec.$input;
  return rec;
}

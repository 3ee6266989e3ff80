/**
 * PostgreSQL's side of keeping a large task input apart from its row (migration 9, table
 * `task_inputs`; why and how: ../task-docs.ts). Every report writes a new version of its task's
 * row, and a document with a 10 KB input was TOASTed again each time; apart, the row stays a few
 * hundred bytes (updated in place, HOT) and the input is written once.
 *
 * Reads select the input with the document, in the same statement (`DOC_COLUMNS`), only for a
 * document that says it is apart. Input rows are never deleted or changed, and one is written in
 * the transaction of the first document that names it, so any document a reader sees (committed,
 * or its own transaction's) has its input there.
 *
 * Several instances write the same tasks, so which inputs are already stored is only known from
 * the batch's own transaction: an input its tasks were read with, or one it wrote. That memo
 * (`known`) is journaled with the unit of work — a unit or batch that is undone forgets what it
 * wrote — and emptied after each batch, as the task cache is; the next batch reads its tasks again.
 */
import type { Row } from '../sql.ts';
import type { TaskRecord } from '../store.ts';
import { APART_SUFFIX, inputApart, putInputBack, rowDoc, type StoredTask } from '../task-docs.ts';
import { JournaledMap } from '../unit-of-work.ts';

/** SQL: the row's document keeps its input apart. */
const APART = `right(doc, ${APART_SUFFIX.length}) = '${APART_SUFFIX}'`;
const INPUT = '(SELECT input FROM task_inputs WHERE task_inputs.id = tasks.id)';

/** What a read of `tasks` selects for a record: `doc`, and `input` when the document keeps it apart. */
export const DOC_COLUMNS = `doc, CASE WHEN ${APART} THEN ${INPUT} END AS input`;

/** The text a search (`q`) looks in: the document and an input kept apart. */
export const SEARCH_TEXT = `(doc || CASE WHEN ${APART} THEN coalesce(${INPUT}, '') ELSE '' END)`;

/** A row read with `DOC_COLUMNS` (or `doc` alone, for a document that keeps nothing apart) as its record. */
export function taskOf(row: Row | undefined): TaskRecord | null {
  if (typeof row?.doc !== 'string') return null;
  const rec = JSON.parse(row.doc) as StoredTask;
  return inputApart(rec) ? putInputBack(rec, row.input) : rec;
}

/** The batch's inputs: read with its tasks, written once. */
export class PostgresTaskInputs {
  /**
   * Task id → the input stored apart as this batch's transaction sees it (the value, to notice a
   * unit that put another input in its place). Undone with a unit or batch, empty between batches.
   */
  readonly known = new JournaledMap<unknown>(0);

  /** A row read in the batch's transaction, with `DOC_COLUMNS`, as its record. */
  read(row: Row | undefined): TaskRecord | null {
    const rec = taskOf(row);
    // A copy the batch already holds keeps its own (uow.fresh gives that copy back).
    if (rec && typeof row!.input === 'string' && this.known.get(rec.id) === undefined) this.known.set(rec.id, rec.input);
    return rec;
  }

  /** The document to write for `t`, and its input's JSON when the same statement must write it apart. */
  doc(t: TaskRecord): { doc: string; input: string | null } {
    const { doc, input } = rowDoc(t);
    if (input === null || this.known.get(t.id) === t.input) return { doc, input: null };
    this.known.set(t.id, t.input);
    return { doc, input };
  }
}

/**
 * Writes inputs apart from `source`, a FROM item of rows `v(i, j)`: task id, input JSON (text or
 * json). Another instance may have written the same input first.
 */
export function insertInputs(source: string): string {
  return `INSERT INTO task_inputs (id, input) SELECT i, j::text FROM ${source}
    ON CONFLICT (id) DO UPDATE SET input = excluded.input WHERE task_inputs.input IS DISTINCT FROM excluded.input`;
}

/** How SQLite spells what `sql.ts` shares: `?` placeholders, lists expanded, JSON through json_each/json_extract. */
import type { SqlDialect } from '../sql.ts';
import { SORT_SQL } from '../task-sort.ts';

export const SQLITE = Object.freeze<SqlDialect>({
  name: 'sqlite',
  placeholder: () => '?',
  oneOf: (column, values, p) => `${column} IN (${values.map((v) => p.add(v)).join(',') || "''"})`,
  hasTag: (table, tag, p) => `EXISTS (SELECT 1 FROM json_each(${table}.tags) WHERE value = ${p.add(tag)})`,
  // instr, not LIKE: the text is matched as it is, `%` and `_` included.
  contains: (text, needle, p) => `instr(lower(${text}), lower(${p.add(needle)})) > 0`,
  docField: (field) => `json_extract(doc, '$.${field}')`,
  // Large inputs are kept apart (task-docs.ts); a search still finds what is in them.
  searchText: "(doc || coalesce((SELECT input FROM task_inputs WHERE task_inputs.id = tasks.id), ''))",
  lastRow: String(Number.MAX_SAFE_INTEGER),
  sort: SORT_SQL.sqlite,
});
